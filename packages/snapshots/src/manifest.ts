import { createHash } from 'node:crypto';
import * as t from 'io-ts';
import { explainErrors } from '@unwind/core';
import { SnapshotCorruptError } from './errors.js';

/**
 * Version of the manifest format this code writes and reads.
 *
 * @example
 * ```ts
 * if (manifest.format !== MANIFEST_FORMAT) throw new Error('written by another version');
 * ```
 */
export const MANIFEST_FORMAT = 1;
/**
 * The manifest's file name inside a snapshot directory.
 *
 * @example
 * ```ts
 * const text = fs.readFileSync(join(store, id, MANIFEST_FILE), 'utf8');
 * ```
 */
export const MANIFEST_FILE = 'manifest.json';
const MAGIC = 'unwind-snapshot-manifest';

/**
 * A stored copy's name: `ab/123`, or `123` as the first format-1 snapshots
 * wrote it. Nothing else, so a manifest can never point a restore outside
 * its own `data/` directory.
 */
const BlobName = t.refinement(t.string, (name) => /^(?:[0-9a-f]{2}\/)?[0-9]+$/.test(name), 'BlobName');

/**
 * A path inside the snapshotted tree: `.` for the root, else relative
 * components joined by `/`, none of them empty, `.` or `..`, and no NUL. A
 * manifest naming anything else (`../etc/x`, `/etc/x`, `a//b`) is refused
 * when it is read, so a tampered manifest never makes a restore write
 * outside its tree.
 */
const TreePath = t.refinement(
  t.string,
  (path) => path === '.' || (!path.includes('\0') && path.split('/').every((part) => part !== '' && part !== '.' && part !== '..')),
  'TreePath',
);

const EntryCodec = t.intersection([
  t.type({
    path: TreePath,
    type: t.union([t.literal('file'), t.literal('dir'), t.literal('symlink')]),
    mode: t.number,
    uid: t.number,
    gid: t.number,
    /** Modification time in nanoseconds since the epoch, as a decimal string (it does not fit a double). */
    mtimeNs: t.string,
  }),
  t.partial({
    size: t.number,
    sha256: t.string,
    target: t.string,
    /** Files: name of the stored copy under `data/`, `<2 hex digits>/<number>` (`<number>` in the first snapshots; absent for a hard link of an earlier path). */
    blob: BlobName,
    /** Files: this path is a hard link of that earlier path (the group's first path). */
    linkOf: TreePath,
    /**
     * Files: the source file's identity (`dev:ino:size:mtimeNs:ctimeNs`) when
     * it was snapshotted, recorded only when it had settled (its ctime earlier
     * than the snapshot's start less 50 ms). A live file with this identity is
     * that file, unchanged: its content is this entry's, without reading it.
     * Absent in snapshots made before it existed: such files are hashed.
     */
    identity: t.string,
  }),
]);

/**
 * One path of a snapshotted tree. `path` is `.` for the root, else relative with `/`.
 *
 * @example
 * ```ts
 * const entry: ManifestEntry = { path: 'a.conf', type: 'file', mode: 0o640, uid: 0, gid: 0, mtimeNs: '1600000000123456789', size: 10, sha256: '…', blob: '00/0' };
 * ```
 */
export type ManifestEntry = t.TypeOf<typeof EntryCodec>;

const BodyCodec = t.type({
  format: t.literal(MANIFEST_FORMAT),
  id: t.string,
  source: t.string,
  createdAt: t.string,
  entries: t.array(EntryCodec),
});

/**
 * What a snapshot holds: the source tree's every path, parents before children.
 *
 * @example
 * ```ts
 * const manifest: Manifest = readManifest(store, id);
 * console.log(manifest.source, manifest.entries.length);
 * ```
 */
export type Manifest = t.TypeOf<typeof BodyCodec>;

/**
 * Serialises a manifest with its own checksum: a first line
 * `unwind-snapshot-manifest 1 sha256=<hex>` over the JSON body that follows.
 *
 * @example
 * ```ts
 * fs.writeFileSync(join(dir, MANIFEST_FILE), encodeManifest(manifest));
 * ```
 */
export function encodeManifest(manifest: Manifest): string {
  const body = JSON.stringify(BodyCodec.encode(manifest));
  return `${MAGIC} ${MANIFEST_FORMAT} sha256=${sha256(body)}\n${body}\n`;
}

/**
 * Parses and checks a manifest written by {@link encodeManifest}; throws
 * {@link SnapshotCorruptError} when the checksum or the shape is wrong.
 *
 * @example
 * ```ts
 * const manifest = decodeManifest(fs.readFileSync(path, 'utf8'), path);
 * ```
 */
export function decodeManifest(text: string, where: string): Manifest {
  const newline = text.indexOf('\n');
  const header = newline < 0 ? text : text.slice(0, newline);
  const match = /^unwind-snapshot-manifest (\d+) sha256=([0-9a-f]{64})$/.exec(header);
  if (!match) throw new SnapshotCorruptError(`manifest ${where} has no valid header`, { manifest: where });
  if (Number(match[1]) !== MANIFEST_FORMAT) throw new SnapshotCorruptError(`manifest ${where} has format ${match[1]}; this code reads format ${MANIFEST_FORMAT}`, { manifest: where });
  const body = text.slice(newline + 1).replace(/\n$/, '');
  if (sha256(body) !== match[2]) throw new SnapshotCorruptError(`manifest ${where} does not match its checksum`, { manifest: where });
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new SnapshotCorruptError(`manifest ${where} is not JSON`, { manifest: where });
  }
  const result = BodyCodec.decode(parsed);
  if (result._tag === 'Left') throw new SnapshotCorruptError(`manifest ${where} is malformed: ${explainErrors(result.left).join('; ')}`, { manifest: where });
  checkTreeShape(result.right.entries, where);
  return result.right;
}

/**
 * Every path's parent is a directory listed before it (the root `.` first),
 * each path once, and a hard link names an earlier file: a restore then
 * never writes through a symlink or outside the tree, whatever the live tree holds.
 */
function checkTreeShape(entries: readonly ManifestEntry[], where: string): void {
  const types = new Map<string, ManifestEntry['type']>();
  for (const [index, entry] of entries.entries()) {
    const refuse = (reason: string) => {
      throw new SnapshotCorruptError(`manifest ${where} entry ${index} (${JSON.stringify(entry.path)}): ${reason}`, { manifest: where, entry: entry.path });
    };
    if (index === 0 && (entry.path !== '.' || entry.type !== 'dir')) refuse('the first entry must be the root directory "."');
    if (types.has(entry.path)) refuse('listed twice');
    if (entry.path !== '.') {
      const slash = entry.path.lastIndexOf('/');
      const parent = slash < 0 ? '.' : entry.path.slice(0, slash);
      if (types.get(parent) !== 'dir') refuse(`its parent ${parent} is not a directory listed before it`);
    }
    if (entry.linkOf !== undefined && types.get(entry.linkOf) !== 'file') refuse(`it is a hard link of ${entry.linkOf}, which is not a file listed before it`);
    types.set(entry.path, entry.type);
  }
}

/** Hex SHA-256 of a string or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
