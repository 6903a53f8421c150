import * as fs from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError, syncDirectory } from '@unwind/core';
import { SnapshotNotFoundError, SnapshotPinnedError } from './errors.js';
import { SNAPSHOT_ID, checkId, partialDir, readPins, snapshotDir, withStoreLock, type Pin } from './store.js';

/**
 * One snapshot in a store, as {@link list} reports it.
 *
 * @example
 * ```ts
 * const broken = list(store).filter((s: SnapshotListing) => s.state === 'incomplete');
 * ```
 */
export interface SnapshotListing {
  id: string;
  /** `complete`: restorable. `incomplete`: its creation never finished (kept for inspection). `deleting`: a delete was interrupted. */
  state: 'complete' | 'incomplete' | 'deleting';
  path: string;
  /** From the id: when the snapshot was started. */
  createdAt: string;
  /** The tree it holds, when known. */
  source?: string;
  entries?: number;
  bytes?: number;
  pins: Array<Pin & { live: boolean }>;
}

function createdAtOf(id: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z` : '';
}

/**
 * Every snapshot in a store, oldest first, with its state and pins. A
 * snapshot a crash interrupted shows as `incomplete`.
 *
 * @example
 * ```ts
 * for (const s of list('/var/lib/app/snapshots')) console.log(s.id, s.state, s.source);
 * ```
 */
export function list(store: string): SnapshotListing[] {
  let names: string[];
  try {
    names = fs.readdirSync(store);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: SnapshotListing[] = [];
  for (const name of names) {
    const m = /^(.*?)(\.partial|\.deleting)?$/.exec(name)!;
    const id = m[1]!;
    if (!SNAPSHOT_ID.test(id)) continue;
    const path = join(store, name);
    let state: SnapshotListing['state'] = m[2] === '.partial' ? 'incomplete' : m[2] === '.deleting' ? 'deleting' : 'complete';
    if (state === 'complete' && !fs.existsSync(join(path, 'manifest.json'))) state = 'incomplete';
    const listing: SnapshotListing = { id, state, path, createdAt: createdAtOf(id), pins: readPins(path) };
    try {
      const info = JSON.parse(fs.readFileSync(join(path, 'info.json'), 'utf8')) as { source?: string; entries?: number; bytes?: number };
      if (info.source) listing.source = info.source;
      if (info.entries !== undefined) listing.entries = info.entries;
      if (info.bytes !== undefined) listing.bytes = info.bytes;
    } catch {
      // info.json is informational; the manifest is the authority
    }
    out.push(listing);
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function removeDir(store: string, name: string): void {
  const from = join(store, name);
  const doomed = name.endsWith('.deleting') ? from : join(store, `${name.replace(/\.partial$/, '')}.deleting`);
  if (from !== doomed) {
    // Renamed first, so a crash mid-delete leaves a recognisable `.deleting`, never a half-empty "complete" snapshot.
    fs.renameSync(from, doomed);
    syncDirectory(store);
  }
  fs.rmSync(doomed, { recursive: true, force: true });
  syncDirectory(store);
}

/**
 * Deletes a snapshot for good. Refuses one a live transaction has pinned
 * ({@link SnapshotPinnedError}) unless `force`. Also deletes an incomplete
 * snapshot once you have inspected it.
 *
 * @example
 * ```ts
 * remove('/var/lib/app/snapshots', '20261122T053012345Z-3f9a1c0d');
 * ```
 */
export function remove(store: string, id: string, options: { force?: boolean } = {}): void {
  removeSnapshot(store, id, options.force ?? false, true);
}

/** {@link remove}, with the lock's release synced or not (a store inside a journal goes with the journal). */
export function removeSnapshot(store: string, id: string, force: boolean, syncRelease: boolean): void {
  checkId(id);
  withStoreLock(store, 'delete', () => {
    const complete = snapshotDir(store, id);
    if (fs.existsSync(complete)) {
      const live = readPins(complete).filter((p) => p.live);
      if (live.length > 0 && !force) throw new SnapshotPinnedError(store, id, live.map((p) => p.name));
      removeDir(store, id);
    } else if (fs.existsSync(partialDir(store, id))) removeDir(store, `${id}.partial`);
    else if (fs.existsSync(join(store, `${id}.deleting`))) removeDir(store, `${id}.deleting`);
    else throw new SnapshotNotFoundError(store, id);
  }, { syncRelease });
}

/**
 * What {@link prune} did.
 *
 * @example
 * ```ts
 * const { deleted, pinned }: PruneReport = prune(store, { keepLast: 3 });
 * ```
 */
export interface PruneReport {
  deleted: string[];
  /** Old enough to go, but a live transaction pins them. */
  pinned: string[];
  /** Never deleted by prune: kept for inspection. */
  incomplete: string[];
}

/**
 * Applies retention: keeps the `keepLast` newest complete snapshots and
 * deletes older ones, except those a live transaction pins (a pin whose
 * transaction ended is stale and ignored). Incomplete snapshots are never
 * deleted here; interrupted deletes are finished.
 *
 * @example
 * ```ts
 * prune('/var/lib/app/snapshots', { keepLast: 3 });
 * ```
 */
export function prune(store: string, options: { keepLast: number }): PruneReport {
  if (!Number.isInteger(options.keepLast) || options.keepLast < 0) throw new InvalidInputError('keepLast must be a whole number ≥ 0', { keepLast: options.keepLast });
  const report: PruneReport = { deleted: [], pinned: [], incomplete: [] };
  if (!fs.existsSync(store)) return report;
  withStoreLock(store, 'prune', () => {
    const all = list(store);
    for (const s of all.filter((s) => s.state === 'deleting')) removeDir(store, `${s.id}.deleting`);
    report.incomplete = all.filter((s) => s.state === 'incomplete').map((s) => s.id);
    const complete = all.filter((s) => s.state === 'complete');
    for (const s of complete.slice(0, Math.max(0, complete.length - options.keepLast))) {
      if (s.pins.some((p) => p.live)) report.pinned.push(s.id);
      else {
        removeDir(store, s.id);
        report.deleted.push(s.id);
      }
    }
  });
  return report;
}
