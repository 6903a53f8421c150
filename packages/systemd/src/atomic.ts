import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { syncDirectory } from '@unwind/core';

/**
 * The temp-file prefix for a unit file. systemd skips hidden files when it
 * reads a unit directory, so a temp file left by a crash is never loaded;
 * undo removes it by this prefix.
 */
export function tempPrefix(path: string): string {
  // Capped so that prefix + random suffix stay within NAME_MAX (255) for the longest unit names.
  return `.#${basename(path).slice(0, 200)}.unwind-`;
}

/** Ownership to set on a written file. */
export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Replaces `path` atomically: a temp file created with O_EXCL|O_NOFOLLOW in
 * the same directory, mode and owner set, synced, renamed over the target
 * (which replaces a symlink there rather than writing through it), and the
 * directory synced.
 */
export function writeFileAtomically(path: string, data: string | Uint8Array, mode: number, owner?: Owner): void {
  const tmp = join(dirname(path), `${tempPrefix(path)}${randomBytes(8).toString('hex')}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    try {
      fs.writeFileSync(fd, data);
      fs.fchmodSync(fd, mode);
      if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

/** Puts a symlink at `path` atomically (link under a temp name, then rename). */
export function symlinkAtomically(target: string, path: string): void {
  const tmp = join(dirname(path), `${tempPrefix(path)}${randomBytes(8).toString('hex')}`);
  fs.symlinkSync(target, tmp);
  try {
    fs.renameSync(tmp, path);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

/** Removes temp files a crashed write left beside `path`. */
export function removeStaleTemps(path: string): void {
  const dir = dirname(path);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const prefix = tempPrefix(path);
  const stale = names.filter((n) => n.startsWith(prefix));
  for (const name of stale) fs.rmSync(join(dir, name), { force: true });
  if (stale.length > 0) syncDirectory(dir);
}
