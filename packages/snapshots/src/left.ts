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
 * The record of a tree as the transaction left it: path → state, as JSON.
 *
 * @example
 * ```ts
 * await ctx.blobs.write('left.json', await recordLeft('/srv/app/collection'));
 * ```
 */
export async function recordLeft(root: string, signal?: AbortSignal): Promise<string> {
  const live = await scanTree(root, { hash: () => true, ...(signal ? { signal } : {}) });
  return JSON.stringify({ format: 2, entries: Object.fromEntries(live.map((e) => [e.path, state(e)])) });
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
export function parseLeft(text: Buffer | string): Map<string, string> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString());
  } catch {
    return undefined;
  }
  const entries = (parsed as { format?: unknown; entries?: unknown } | null)?.entries;
  if ((parsed as { format?: unknown } | null)?.format !== 2 || typeof entries !== 'object' || entries === null || Object.values(entries).some((v) => typeof v !== 'string')) return undefined;
  return new Map(Object.entries(entries as Record<string, string>));
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
 * restore must leave alone.
 *
 * @example
 * ```ts
 * const foreign = await changedByOthers('/srv/app', parseLeft(await ctx.blobs.read('left.json'))!, manifest.entries);
 * ```
 */
export async function changedByOthers(
  root: string,
  left: ReadonlyMap<string, string>,
  wanted: readonly ManifestEntry[],
  options: { signal?: AbortSignal; interruptedRestoreSince?: bigint } = {},
): Promise<ForeignChange[]> {
  const { signal, interruptedRestoreSince: since } = options;
  const want = new Map(wanted.map((e) => [e.path, e]));
  const live = await scanTree(root, { hash: () => true, ...(signal ? { signal } : {}) });
  const seen = new Set<string>();
  const out: ForeignChange[] = [];
  for (const entry of live) {
    seen.add(entry.path);
    const then = left.get(entry.path);
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
