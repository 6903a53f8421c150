import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { assertPrivateDirectory } from '@unwind/core';
import { UnsafeLingerFileError } from './errors.js';

/**
 * The user's linger file as removeUser may remove it, or undefined when
 * there is none. systemd's linger files are empty regular files in a
 * directory only root controls; anything else at that path (a database file
 * named like the user in a linger directory the caller got wrong, a
 * symlink, a directory) is refused with UnsafeLingerFileError, and a linger
 * directory others could change with UnsafeDirectoryError. The entry is
 * judged by lstat: in a directory only root can change, nobody else can swap
 * it between this check and the unlink (which never follows a final symlink).
 */
export function lingerFileToRemove(path: string): fs.Stats | undefined {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    // A component of the directory is a file, not a directory: there is no linger file.
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
  if (!st) return undefined;
  assertPrivateDirectory(dirname(path), 'linger directory');
  if (st.isSymbolicLink()) throw new UnsafeLingerFileError(path, 'is a symlink');
  if (!st.isFile()) throw new UnsafeLingerFileError(path, 'is not a regular file');
  if (st.size !== 0) throw new UnsafeLingerFileError(path, `is not empty (${st.size} bytes), as systemd's linger files are`);
  return st;
}

/** Removes the linger file after checking it again (the journal is input, and time has passed since prepare). */
export function removeLingerFile(path: string): void {
  if (!lingerFileToRemove(path)) return;
  fs.unlinkSync(path);
}

/** Before the undo creates the linger file again: its directory must still be one only root controls. */
export function assertLingerDirectory(path: string): void {
  assertPrivateDirectory(dirname(path), 'linger directory');
}
