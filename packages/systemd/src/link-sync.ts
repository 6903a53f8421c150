import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { syncDirectory } from '@unwind/core';
import { inUnitDirectory, openSubdirectory, snapshotDirs, type UnitDirHandle } from './unitdir.js';

/**
 * What `systemctl enable`/`disable`/`mask`/`unmask` may change: the entries
 * of the unit directory and of each of its subdirectories (`*.wants`,
 * `*.requires`, `*.upholds`), each as its type or a symlink's target, and
 * which of the unit directory and its parents are missing.
 */
interface LinkListing {
  missing: string[];
  /** Directory path → entry name → `dir`, `file`, or `-> TARGET`. */
  entries: Map<string, Map<string, string>>;
}

/** The entries of an open directory; a link is read through the directory, never followed. */
function entriesOf(dir: UnitDirHandle): Map<string, string> | undefined {
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(dir.self, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
  const entries = new Map<string, string>();
  for (const entry of names) {
    let what = entry.isDirectory() ? 'dir' : entry.isSymbolicLink() ? 'link' : 'file';
    if (what === 'link') {
      try {
        what = `-> ${fs.readlinkSync(dir.entry(entry.name))}`;
      } catch {
        // removed between the listing and the read: what it was does not matter, it changed
      }
    }
    entries.set(entry.name, what);
  }
  return entries;
}

function listLinks(unitDir: string, guarded: boolean): LinkListing {
  const entries = new Map<string, Map<string, string>>();
  inUnitDirectory(unitDir, guarded, (dir) => {
    const top = dir && entriesOf(dir);
    if (!dir || !top) return;
    entries.set(unitDir, top);
    for (const [name, what] of top) {
      if (what !== 'dir') continue;
      const subdir = openSubdirectory(dir, name, guarded);
      if (!subdir) continue;
      try {
        const sub = entriesOf(subdir);
        if (sub) entries.set(join(unitDir, name), sub);
      } finally {
        subdir.close();
      }
    }
  });
  return { missing: snapshotDirs(unitDir, guarded).missing, entries };
}

/** fsyncs the directory `path`, reached as every other here (guarded: through a descriptor); gone since is nothing to sync. */
function syncUnitDirectory(path: string, guarded: boolean): void {
  inUnitDirectory(path, guarded, (dir) => {
    if (dir) syncDirectory(dir.self);
  });
}

function sameEntries(a: Map<string, string> | undefined, b: Map<string, string>): boolean {
  if (!a || a.size !== b.size) return false;
  for (const [name, what] of b) if (a.get(name) !== what) return false;
  return true;
}

/**
 * Makes what a systemctl call changed in the unit directory durable: every
 * directory whose entries it changed is synced — the unit directory (an
 * alias, a mask link, a new `.wants` directory), each `.wants`/`.requires`
 * directory a link appeared in or left — and, for directories it created
 * (the unit directory itself, its parents), the directory each was created
 * in. systemctl syncs none of these itself, so without this a power cut soon
 * after could lose an enablement the journal records as done (or undone).
 * Directories it did not touch are not synced. Returns how many were.
 */
function syncChanged(unitDir: string, before: LinkListing, guarded: boolean): number {
  const after = listLinks(unitDir, guarded);
  const toSync = new Set<string>();
  for (const dir of before.missing) if (inUnitDirectory(dir, guarded, (d) => d !== undefined)) toSync.add(dirname(dir));
  for (const [dir, entries] of after.entries) if (!sameEntries(before.entries.get(dir), entries)) toSync.add(dir);
  // Shallowest first: a directory's own entry before the entries in it (any order is durable once all are synced).
  const ordered = [...toSync].sort((a, b) => a.length - b.length);
  for (const dir of ordered) syncUnitDirectory(dir, guarded);
  return ordered.length;
}

/**
 * Runs a systemctl call that changes links in `unitDir` (enable, disable,
 * mask, unmask), then syncs the directories it changed (see above), also
 * when the call failed part-way: what it did change is then durable too.
 * `guarded` (a user's tree, see unitdir.ts): every listing, link read and
 * sync goes through descriptors, never through a name the user could swap.
 *
 * @example
 * ```ts
 * await changingLinks(before.unitDir, guardsUnitDir(a), () => systemctl(a, runner, ['enable', '--', a.unit]));
 * ```
 */
export async function changingLinks<T>(unitDir: string, guarded: boolean, call: () => Promise<T>): Promise<T> {
  const before = listLinks(unitDir, guarded);
  let result: T;
  try {
    result = await call();
  } catch (error) {
    try {
      syncChanged(unitDir, before, guarded);
    } catch {
      // the call's own error is the one to report
    }
    throw error;
  }
  syncChanged(unitDir, before, guarded);
  return result;
}
