import * as fs from 'node:fs';
import { runningUid, syncDirectory } from '@unwind/core';
import type { DirectoryHandle } from './directory-handle.js';

/**
 * Holders: a directory private to the running user (root, 0700) made beside
 * an entry in a directory that another user may be able to write. Whatever
 * root must look at and then act on by name (chown a link it made, check the
 * inode of an entry it moves) is put inside one first: nobody else can enter
 * it, so the entry looked at is the one acted on. A name in a directory she
 * can write is hers to rename at any moment; a name in a holder is not.
 * Holder names are derived from journaled values, so that a rerun after a
 * crash finds what an interrupted run left in one.
 */

/** The one entry a holder ever has. */
const HELD = 'held';

/** `/proc/self/fd/<fd>/held`: the entry in the open holder. */
export function heldIn(holder: number): string {
  return `/proc/self/fd/${holder}/${HELD}`;
}

/**
 * Makes `name` in `dir` a new holder and opens it; the caller closes the
 * descriptor. Anything else found at the name (something already there, or
 * swapped in between the mkdir and the open) is refused with `refuse(found)`.
 *
 * @example
 * ```ts
 * const holder = makeHolder(dir, '.app.conf.unwind-undo', (found) => new UndoConflictError(path, 'nothing', found));
 * ```
 */
export function makeHolder(dir: DirectoryHandle, name: string, refuse: (found: string) => Error): number {
  try {
    fs.mkdirSync(dir.entry(name), { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw refuse(`something at ${dir.path}/${name}, where it makes its private directory`);
    throw error;
  }
  // Durable before anything is renamed into it: else a power cut could keep the rename out of `dir` and lose the holder.
  syncDirectory(dir.self);
  const fd = open(dir, name);
  if (fd === undefined) throw refuse(`nothing at ${dir.path}/${name}, where it had just made its private directory`);
  if (typeof fd === 'string') throw refuse(fd);
  // Empty, or it is another private directory of root's renamed in since the mkdir: never put anything in that.
  if (fs.readdirSync(`/proc/self/fd/${fd}`).length > 0) {
    fs.closeSync(fd);
    throw refuse(`another directory at ${dir.path}/${name} than the empty one it had just made`);
  }
  return fd;
}

/**
 * Opens the holder `name` in `dir` (what an interrupted run left), or
 * returns undefined when there is none: nothing there, or anything but a
 * directory only the running user can enter, which is no holder and holds
 * nothing of root's.
 *
 * @example
 * ```ts
 * const holder = holderIfAny(fromDir, name); // where an interrupted do parked what it was moving
 * ```
 */
export function holderIfAny(dir: DirectoryHandle, name: string): number | undefined {
  const opened = open(dir, name);
  return typeof opened === 'string' ? undefined : opened;
}

/** The open holder, undefined when nothing is there, or what is there instead. */
function open(dir: DirectoryHandle, name: string): number | string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(dir.entry(name), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'ENOTDIR') return `a file or symlink at ${dir.path}/${name}, where it makes its private directory`;
    throw error;
  }
  const st = fs.fstatSync(fd);
  if (st.uid !== runningUid() || (st.mode & 0o077) !== 0) {
    fs.closeSync(fd);
    return `a directory of uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)} at ${dir.path}/${name}, where it makes its private directory`;
  }
  return fd;
}

/**
 * Removes the (empty) holder `name` from `dir` and syncs `dir`, so that it
 * cannot come back after the step is journaled done. By name: what another
 * user put at the name meanwhile is removed only when it is an empty
 * directory (which she could remove herself), and otherwise left to her; a
 * holder she renamed away is left empty.
 */
export function removeHolder(dir: DirectoryHandle, name: string): void {
  try {
    fs.rmdirSync(dir.entry(name));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw error;
  }
  syncDirectory(dir.self);
}
