import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HardLinkRefusedError, SymlinkRefusedError, UnexpectedFileTypeError } from './errors.js';
import { O_PATH } from '@unwind/core';

/**
 * Filesystem helpers shared by the step kinds (durable writes, directory
 * syncs and atomic replacement come from core's one durable-write module). Synchronous on purpose: each
 * call is one syscall whose order matters for crash consistency, and crash
 * tests count them.
 */


/** `lstat`, or `undefined` when nothing is there. Never follows a symlink. */
export function lstatOrUndefined(path: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** sha256 of bytes, hex. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a regular file without following a symlink at its last component. */
export function readNoFollow(path: string): Buffer {
  return readSource(path).bytes;
}

/**
 * A regular file's bytes and permission bits, read through one descriptor (never following a symlink), so both
 * describe the same file. Only the last component is guarded: give a name in an open directory, or a path of ours.
 * `shown` names it in errors.
 */
export function readSource(path: string, shown = path, options: { refuseHardLinks?: boolean } = {}): { bytes: Buffer; mode: number } {
  // Named first (O_PATH: nothing is opened, so a device put there is never opened), read only once it is a regular file.
  const named = fs.openSync(path, O_PATH | fs.constants.O_NOFOLLOW);
  let fd: number;
  try {
    const st = fs.fstatSync(named);
    if (st.isSymbolicLink()) throw new SymlinkRefusedError(shown, safeReadlink(path));
    if (!st.isFile()) throw new UnexpectedFileTypeError(`${shown} is not a regular file`, { path: shown });
    // Another name of it may be a file whose owner the source's does not know of (a user's hard link to /etc/shadow).
    if (options.refuseHardLinks && st.nlink > 1) throw new HardLinkRefusedError(shown, st.nlink, 'refusing to read it as a source');
    // Reopened through the descriptor: the same inode, whatever is at the name by now.
    fd = fs.openSync(`/proc/self/fd/${named}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } finally {
    fs.closeSync(named);
  }
  try {
    const st = fs.fstatSync(fd);
    return { bytes: fs.readFileSync(fd), mode: st.mode & 0o7777 };
  } finally {
    fs.closeSync(fd);
  }
}

/** The link target, or undefined if it cannot be read. */
export function safeReadlink(path: string): string | undefined {
  try {
    return fs.readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** Removes a file if it is there (never a directory); true when something was removed. */
export function unlinkIfPresent(path: string): boolean {
  // Look first: on a read-only filesystem unlink says EROFS even when nothing is there.
  if (!lstatOrUndefined(path)) return false;
  try {
    fs.unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** The current process's uid and gid. */
export function processOwner(): { uid: number; gid: number } {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/** Throws the signal's reason when it fired: a cancelled `do` stops before its next change. */
export function checkSignal(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

/** Where `path` really is: its parent resolved (symlinks followed), its own name kept (never followed). */
export function resolvedLocation(path: string): string {
  return join(fs.realpathSync(dirname(path)), basename(path));
}

