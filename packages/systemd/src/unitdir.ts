import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import * as t from 'io-ts';
import { syncDirectory } from '@unwind/core';

/**
 * Which directories existed before a step that makes systemd write into the
 * unit directory (enable creates `default.target.wants/`, mask may create
 * the directory itself), so undo can remove the empty ones it caused.
 */
export const DirSnapshot = t.type({
  /** The unit directory and its missing parents, deepest first; empty when it existed. */
  missing: t.array(t.string),
  /** Subdirectories of the unit directory that existed. */
  subdirs: t.array(t.string),
});
/** See {@link DirSnapshot}. */
export type DirSnapshot = t.TypeOf<typeof DirSnapshot>;

/** Records which of `unitDir`, its parents and its subdirectories exist. Read-only. */
export function snapshotDirs(unitDir: string): DirSnapshot {
  const missing: string[] = [];
  for (let dir = unitDir; dir !== dirname(dir) && !fs.existsSync(dir); dir = dirname(dir)) missing.push(dir);
  const subdirs = missing.length > 0 ? [] : fs.readdirSync(unitDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return { missing, subdirs };
}

/**
 * Removes directories that did not exist in `snapshot` and are empty now:
 * new subdirectories of `unitDir`, then `unitDir` and the parents that were
 * missing. A directory something else filled is left alone.
 */
export function removeNewEmptyDirs(unitDir: string, snapshot: DirSnapshot): void {
  if (fs.existsSync(unitDir)) {
    let removed = false;
    for (const entry of fs.readdirSync(unitDir, { withFileTypes: true })) {
      if (entry.isDirectory() && !snapshot.subdirs.includes(entry.name)) removed = rmdirIfEmpty(join(unitDir, entry.name)) || removed;
    }
    if (removed) syncDirectory(unitDir);
  }
  removeMissingDirs(snapshot.missing);
}

function rmdirIfEmpty(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw error;
  }
}

/** Creates `missing` directories (shallowest first, mode 0755), owned by `owner` when given, syncing each parent. */
export function createMissingDirs(missing: readonly string[], owner?: { uid: number; gid: number }): void {
  for (const dir of [...missing].reverse()) {
    try {
      fs.mkdirSync(dir, { mode: 0o755 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      continue;
    }
    fs.chmodSync(dir, 0o755);
    if (owner) fs.chownSync(dir, owner.uid, owner.gid);
    syncDirectory(dirname(dir));
  }
}

/** Removes `missing` directories (deepest first) that are empty; stops at the first that is not. */
export function removeMissingDirs(missing: readonly string[]): void {
  for (const dir of missing) {
    if (rmdirIfEmpty(dir)) syncDirectory(dirname(dir));
    else if (fs.existsSync(dir)) break;
  }
}
