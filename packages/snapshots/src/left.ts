import { identityOf, settleMoment, settledBefore, type Identity } from './identity.js';
import type { ManifestEntry } from './manifest.js';
import { scanTree, type LiveEntry } from './scan.js';

/**
 * What a transaction left in a snapshotted tree when its rollback started,
 * and which paths someone else changed since. The snapshot step records the
 * state of every path (type, mode, owner, a file's size and SHA-256, a
 * link's target) before any undo of the transaction acts; its own undo, which runs
 * after the later steps' undos, then restores only what is still as the
 * transaction left it, or is already back as the snapshot holds it (a later
 * step's undo put it back). Anything else — a file edited, created, replaced
 * or deleted by someone else after the rollback started, or while recovery
 * waited — is theirs: left untouched and reported as a conflict.
 */

/**
 * One path's state: type, mode, owner, and content (a file's size and
 * SHA-256, a link's target). Not inode numbers or times: after a power cut
 * the transaction's own synced writes are what they were, whatever the
 * inode, and a change that leaves every one of these as it was harms nobody.
 */
type State = string;

function state(e: LiveEntry): State {
  // A directory is judged by what is in it, path by path; its own times change with every entry added or removed.
  if (e.type === 'dir') return `dir ${e.mode} ${e.uid}:${e.gid}`;
  if (e.type === 'symlink') return `symlink ${e.uid}:${e.gid} ${JSON.stringify(e.target)}`;
  return `${e.type} ${e.mode} ${e.uid}:${e.gid} ${e.size} ${e.sha256 ?? ''}`;
}

/**
 * What {@link parseLeft} reads: each path's state, and the identity
 * (identity.ts) of each file whose identity had settled when it was
 * recorded. A file that still has that identity is in that state, unread.
 */
export interface LeftRecord {
  states: Map<string, State>;
  identities: Map<string, Identity>;
}

/**
 * The record of a tree as the transaction left it: path → state, and the
 * files' settled identities, as JSON. A file that is still the very file
 * the snapshot copied (its identity in the manifest, `wanted`) is not read:
 * its hash is the manifest's; the others are hashed.
 *
 * @example
 * ```ts
 * await ctx.blobs.write('left.json', await recordLeft('/srv/app/collection', manifest.entries));
 * ```
 */
export async function recordLeft(root: string, wanted: readonly ManifestEntry[] = [], signal?: AbortSignal): Promise<string> {
  const want = new Map(wanted.map((e) => [e.path, e]));
  const moment = settleMoment();
  const live = await scanTree(root, { hash: (l) => !takeSnapshotHash(l, want.get(l.path)), ...(signal ? { signal } : {}) });
  const identities: Record<string, Identity> = {};
  for (const e of live) {
    const identity = e.type === 'file' ? settledBefore(e, moment) : undefined;
    if (identity !== undefined) identities[e.path] = identity;
  }
  return JSON.stringify({ format: 2, entries: Object.fromEntries(live.map((e) => [e.path, state(e)])), identities });
}

/** Gives a live file the manifest's hash when it is the very file the snapshot copied, unchanged; true when it did. */
function takeSnapshotHash(live: LiveEntry, want: ManifestEntry | undefined): boolean {
  if (live.type !== 'file' || want?.type !== 'file' || want.identity === undefined || want.identity !== identityOf(live)) return false;
  live.sha256 = want.sha256;
  return true;
}

/**
 * Reads a record written by {@link recordLeft}; undefined when it is not one
 * (cut short by a crash while it was written: the rollback had not started
 * undoing anything then).
 *
 * @example
 * ```ts
 * const left = parseLeft(await ctx.blobs.read('left.json'));
 * ```
 */
export function parseLeft(text: Buffer | string): LeftRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString());
  } catch {
    return undefined;
  }
  const record = parsed as { format?: unknown; entries?: unknown; identities?: unknown } | null;
  const strings = (value: unknown): value is Record<string, string> => typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');
  if (record?.format !== 2 || !strings(record.entries)) return undefined;
  // Records written before identities existed have none: every file is hashed.
  const identities = strings(record.identities) ? record.identities : {};
  return { states: new Map(Object.entries(record.entries)), identities: new Map(Object.entries(identities)) };
}

/** A restore's own temp name (restore.ts `tempIn`): left behind only by a restore cut short, and removed by the next. */
const RESTORE_TEMP = /(^|\/)\.unwind-restore-[0-9a-f]{12}$/;

/** Whether a live entry is already exactly what the snapshot holds (times aside; files hashed). */
function asSnapshot(live: LiveEntry, want: ManifestEntry | undefined): boolean {
  if (!want || want.type !== live.type) return false;
  if (live.uid !== want.uid || live.gid !== want.gid) return false;
  if (want.type === 'symlink') return live.target === want.target;
  if (live.mode !== want.mode) return false;
  if (want.type === 'dir') return true;
  return live.size === want.size && live.sha256 === want.sha256;
}

/**
 * A path someone else changed since the transaction's rollback started, and
 * how: what the transaction left there and what is there now.
 *
 * @example
 * ```ts
 * const conflicts: ForeignChange[] = await changedByOthers(root, left, manifest.entries);
 * ```
 */
export interface ForeignChange {
  path: string;
  left: string;
  now: string;
  /** False for a directory that is the same directory with another mode or owner: what is in it is judged path by path. */
  andBelow: boolean;
}

/**
 * The paths of the tree that are neither as the transaction left them nor
 * already as the snapshot holds them: someone else's changes, which a
 * restore must leave alone. A file with the identity the record holds for
 * it is as the transaction left it, and one with the identity the manifest
 * holds is as the snapshot holds it: neither is read. Every other file is
 * hashed.
 *
 * @example
 * ```ts
 * const foreign = await changedByOthers('/srv/app', parseLeft(await ctx.blobs.read('left.json'))!, manifest.entries);
 * ```
 */
export async function changedByOthers(
  root: string,
  record: LeftRecord,
  wanted: readonly ManifestEntry[],
  options: { signal?: AbortSignal; interruptedRestoreSince?: bigint } = {},
): Promise<ForeignChange[]> {
  const { signal, interruptedRestoreSince: since } = options;
  const { states: left, identities } = record;
  const want = new Map(wanted.map((e) => [e.path, e]));
  // Files are hashed by the scan, through their directory's descriptor (scan.ts), never by a path their owner could redirect.
  const unchanged = new Set<string>();
  const live = await scanTree(root, {
    hash: (entry) => {
      if (identities.get(entry.path) === identityOf(entry)) {
        unchanged.add(entry.path); // the very file the record saw, unchanged: as the transaction left it
        return false;
      }
      return !takeSnapshotHash(entry, want.get(entry.path));
    },
    ...(signal ? { signal } : {}),
  });
  const seen = new Set<string>();
  const out: ForeignChange[] = [];
  for (const entry of live) {
    seen.add(entry.path);
    const then = left.get(entry.path);
    if (unchanged.has(entry.path)) continue;
    if (then === state(entry) || asSnapshot(entry, want.get(entry.path))) continue;
    if (RESTORE_TEMP.test(entry.path)) continue;
    // A restore of this undo was cut short (a crash): what it had begun to put back is its own work.
    if (since !== undefined && want.has(entry.path) && entry.ctimeNs >= since) continue;
    const sameDirectory = entry.type === 'dir' && then?.startsWith('dir ') === true;
    out.push({ path: entry.path, left: then ?? 'nothing', now: describe(entry), andBelow: !sameDirectory });
  }
  for (const [path, then] of left) {
    if (seen.has(path) || !want.has(path)) continue; // gone, and the snapshot does not have it either: as it should be
    if (since !== undefined) continue; // a restore cut short may have removed it to put the snapshot's back
    out.push({ path, left: then, now: 'nothing', andBelow: true });
  }
  return out;
}

function describe(e: LiveEntry): string {
  if (e.type === 'symlink') return `a symlink to ${JSON.stringify(e.target)}`;
  if (e.type === 'dir') return `a directory, mode ${e.mode.toString(8)}, owner ${e.uid}:${e.gid}`;
  return `a ${e.type === 'file' ? 'file' : (e.kind ?? 'special file')} of ${e.size} bytes, mode ${e.mode.toString(8)}, owner ${e.uid}:${e.gid}, changed at ${new Date(Number(e.ctimeNs / 1_000_000n)).toISOString()}`;
}
