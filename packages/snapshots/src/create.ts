import * as fs from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { InvalidInputError, UnwindError, logger, makeDirectoryDurably, syncDirectory, validateAbsolutePath, writeNewFileDurably, type CommandRunner } from '@unwind/core';
import { makeDurable } from './durability.js';
import { SnapshotCreateError, SnapshotSourceChangedError, UnsupportedEntryError } from './errors.js';
import { testHooks } from './hooks.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, encodeManifest, type Manifest, type ManifestEntry } from './manifest.js';
import { Yielder, full, hashFile, scanTree, statEntry, type LiveEntry, type ScanFs } from './scan.js';
import { newSnapshotId, partialDir, snapshotDir, writePin, type Pin } from './store.js';

const log = logger('snapshots');
const nodeFs = fs as unknown as ScanFs;

/**
 * Options of {@link create}.
 *
 * @example
 * ```ts
 * const options: CreateOptions = { source: '/srv/app/collection', store: '/srv/app/.snapshots' };
 * ```
 */
export interface CreateOptions {
  /** The tree to snapshot: an absolute path to a directory. Only read. */
  source: string;
  /** The snapshot store: an absolute path, created 0700. Put it on the same filesystem as `source` for reflinks. */
  store: string;
  /** Pin the snapshot for this holder from the moment it exists (retention will not delete it). */
  pin?: Pin;
  /** Runs `sync -f` when many files were written. Default core's `runCommand`. */
  exec?: CommandRunner;
  signal?: AbortSignal;
}

/**
 * A snapshot that {@link create} finished.
 *
 * @example
 * ```ts
 * const info: SnapshotInfo = await create(options);
 * console.log(info.id, info.entries, info.bytes);
 * ```
 */
export interface SnapshotInfo {
  id: string;
  store: string;
  /** The snapshot's directory. */
  path: string;
  source: string;
  createdAt: string;
  /** Paths in the manifest (the root included). */
  entries: number;
  /** Bytes of file content stored (hard links counted once). */
  bytes: number;
}

function isWithin(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

function realOrResolved(path: string): string {
  try {
    return fs.realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Checks the arguments of a snapshot; throws InvalidInputError. Touches nothing.
 *
 * @example
 * ```ts
 * validateSnapshotPaths('/srv/app', '/srv/app/.snapshots'); // throws: the store is inside the tree
 * ```
 */
export function validateSnapshotPaths(source: string, store: string): void {
  validateAbsolutePath(source, { what: 'snapshot source' });
  validateAbsolutePath(store, { what: 'snapshot store' });
  const [s, t] = [realOrResolved(source), realOrResolved(store)];
  if (isWithin(t, s) || isWithin(s, t)) {
    throw new InvalidInputError(`snapshot store ${store} and source ${source} must not contain each other (the snapshot would copy itself, or a restore would delete the store)`, { source, store });
  }
}

/**
 * Snapshots a directory tree into a store. Reads the source only. Files are
 * copied with a reflink where the filesystem can (`COPYFILE_FICLONE`, a plain
 * copy elsewhere), hashed (SHA-256) from the stored copy, and listed in a
 * checksummed manifest with type, mode, owner, size, mtime, link target and
 * hard-link groups. The snapshot is built in `<id>.partial`, made durable,
 * then renamed complete: a crash leaves a recognisable incomplete snapshot
 * that is never restored from. A failure (e.g. ENOSPC) removes the partial
 * snapshot and throws {@link SnapshotCreateError}; a source that changes
 * while it is copied makes it throw {@link SnapshotSourceChangedError}.
 *
 * Not recorded: atime, xattrs, ACLs, file capabilities; sockets, FIFOs and
 * devices are refused ({@link UnsupportedEntryError}).
 *
 * @example
 * ```ts
 * const snap = await create({ source: '/srv/app/collection', store: '/srv/app/.snapshots' });
 * // ... arbitrary changes ...
 * await restore({ store: snap.store, id: snap.id, path: '/srv/app/collection' });
 * ```
 */
export async function create(options: CreateOptions): Promise<SnapshotInfo> {
  const { source, store, signal } = options;
  validateSnapshotPaths(source, store);
  const root = fs.lstatSync(source, { throwIfNoEntry: false });
  if (!root?.isDirectory()) throw new InvalidInputError(`snapshot source ${source} is not a directory`, { source });
  const live = await scanTree(source, signal ? { signal } : {});
  const special = live.find((e) => e.type === 'other');
  if (special) throw new UnsupportedEntryError(full(source, special.path), special.kind ?? 'special file');

  const id = newSnapshotId();
  const partial = partialDir(store, id);
  let began = false;
  try {
    makeDirectoryDurably(store, 0o700);
    fs.mkdirSync(partial, { mode: 0o700 });
    began = true;
    syncDirectory(store);
    fs.mkdirSync(join(partial, 'data'), { mode: 0o700 });
    const { entries, bytes, written, shards } = await copyTree(source, partial, live, signal);
    await makeDurable(partial, written, [...shards, join(partial, 'data'), partial], { ...(options.exec ? { exec: options.exec } : {}), ...(signal ? { signal } : {}) });
    const createdAt = new Date().toISOString();
    const manifest: Manifest = { format: MANIFEST_FORMAT, id, source, createdAt, entries };
    writeNewFileDurably(join(partial, 'info.json'), JSON.stringify({ id, source, createdAt, entries: entries.length, bytes }), 0o600);
    if (options.pin) writePin(partial, options.pin);
    // The manifest goes last: its presence (inside a renamed, complete directory) is what makes the snapshot usable.
    writeNewFileDurably(join(partial, MANIFEST_FILE), encodeManifest(manifest), 0o600);
    fs.renameSync(partial, snapshotDir(store, id));
    syncDirectory(store);
    log('snapshot %s of %s: %d entries, %d bytes', id, source, entries.length, bytes);
    return { id, store, path: snapshotDir(store, id), source, createdAt, entries: entries.length, bytes };
  } catch (error) {
    if (began) {
      try {
        fs.rmSync(partial, { recursive: true, force: true });
        syncDirectory(store);
      } catch (cleanup) {
        log('could not remove the failed snapshot %s: %s', partial, (cleanup as Error).message);
      }
    }
    if (error instanceof UnwindError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOSPC' ? 'no space left on device in the snapshot store (ENOSPC)' : (error as Error).message;
    throw new SnapshotCreateError(`could not snapshot ${source} into ${store}: ${reason}`, { source, store, id, errno: code }, error);
  }
}

async function copyTree(source: string, partial: string, live: LiveEntry[], signal: AbortSignal | undefined) {
  const yielder = new Yielder(signal, 64);
  const entries: ManifestEntry[] = [];
  const written: string[] = [];
  const leaders = new Map<bigint, ManifestEntry>();
  const shards = new Set<string>();
  let bytes = 0;
  let blobs = 0;
  for (const e of live) {
    const base = { path: e.path, mode: e.mode, uid: e.uid, gid: e.gid, mtimeNs: e.mtimeNs.toString() };
    if (e.type === 'dir') entries.push({ ...base, type: 'dir' });
    else if (e.type === 'symlink') entries.push({ ...base, type: 'symlink', target: e.target ?? '' });
    else {
      const first = e.nlink > 1 ? leaders.get(e.ino) : undefined;
      if (first) {
        entries.push({ ...base, type: 'file', size: first.size!, sha256: first.sha256!, linkOf: first.path });
        continue;
      }
      const blob = blobName(blobs++);
      const stored = join(partial, 'data', blob);
      const shard = dirname(stored);
      if (!shards.has(shard)) {
        fs.mkdirSync(shard, { mode: 0o700 });
        shards.add(shard);
      }
      const from = full(source, e.path);
      fs.copyFileSync(from, stored, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL);
      const sha256 = hashFile(nodeFs, stored, e.size);
      const again = statEntry(nodeFs, source, e.path);
      const size = fs.lstatSync(stored).size;
      if (again.ino !== e.ino || again.size !== e.size || again.mtimeNs !== e.mtimeNs || again.ctimeNs !== e.ctimeNs || size !== e.size) {
        throw new SnapshotSourceChangedError(from);
      }
      const entry: ManifestEntry = { ...base, type: 'file', size: e.size, sha256, blob };
      if (e.nlink > 1) leaders.set(e.ino, entry);
      entries.push(entry);
      written.push(stored);
      bytes += e.size;
      testHooks.point?.('create', blobs);
      await yielder.tick();
    }
  }
  // A directory whose entries changed during the copy (a file added or removed) has a new ctime.
  for (const e of live) {
    if (e.type !== 'dir') continue;
    const again = statEntry(nodeFs, source, e.path);
    if (again.ctimeNs !== e.ctimeNs || again.mtimeNs !== e.mtimeNs) throw new SnapshotSourceChangedError(full(source, e.path));
  }
  return { entries, bytes, written, shards: [...shards] };
}

/**
 * The stored copy's name under `data/`: spread over up to 256 directories,
 * because creating 20,000 files in one directory costs about twice as much on
 * ext4 as creating them across a few hundred (measured in bench/).
 */
function blobName(n: number): string {
  return `${(n % 256).toString(16).padStart(2, '0')}/${n}`;
}
