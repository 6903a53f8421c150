import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { syncDirectory } from '@unwind/core';
import { DurabilityError, SymlinkRefusedError, UnexpectedFileTypeError } from './errors.js';

/**
 * Filesystem helpers shared by the step kinds. Synchronous on purpose: each
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

/** fsyncs an open descriptor; a failure is a non-retryable {@link DurabilityError}. */
export function fsyncFd(fd: number, path: string): void {
  try {
    fs.fsyncSync(fd);
  } catch (error) {
    throw new DurabilityError(path, error);
  }
}

/** fsyncs a directory (core's syncDirectory); a failure is a non-retryable {@link DurabilityError}. */
export function syncDir(path: string): void {
  try {
    syncDirectory(path);
  } catch (error) {
    throw new DurabilityError(path, error);
  }
}

/** fsyncs a path without following a symlink (files and directories). */
export function syncPath(path: string): void {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') return; // a symlink's own metadata lives in its directory
    throw error;
  }
  try {
    fsyncFd(fd, path);
  } finally {
    fs.closeSync(fd);
  }
}

/** An unpredictable name for a temp file beside `target`: `.<name>.unwind-<32 hex>`. */
export function tempNameFor(target: string): string {
  return join(dirname(target), `.${basename(target).slice(0, 100)}.unwind-${randomBytes(16).toString('hex')}`);
}

/** sha256 of bytes, hex. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a regular file without following a symlink at its last component. */
export function readNoFollow(path: string): Buffer {
  return readSource(path).bytes;
}

/** A regular file's bytes and permission bits, read through one descriptor (never following a symlink), so both describe the same file. */
export function readSource(path: string): { bytes: Buffer; mode: number } {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new SymlinkRefusedError(path, safeReadlink(path));
    throw error;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new UnexpectedFileTypeError(`${path} is not a regular file`, { path });
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

/** Ownership and mode to give a new file before it is renamed into place. */
export interface Attributes {
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Creates `temp` with O_EXCL|O_NOFOLLOW (it must not exist: nothing planted
 * there is ever opened), writes `data`, sets owner then mode (chown clears
 * set-id bits, so mode goes last), and fsyncs it. On failure the temp file is
 * removed and the error rethrown.
 */
export function writeTempFile(temp: string, data: Uint8Array, attributes: Attributes): void {
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    try {
      fs.writeFileSync(fd, data);
      const st = fs.fstatSync(fd);
      if (st.uid !== attributes.uid || st.gid !== attributes.gid) fs.fchownSync(fd, attributes.uid, attributes.gid);
      fs.fchmodSync(fd, attributes.mode);
      fsyncFd(fd, temp);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    try {
      fs.unlinkSync(temp);
    } catch {
      // already gone; the journaled temp name lets undo remove it otherwise
    }
    throw error;
  }
}

/** Renames `from` over `to` and fsyncs the directory (or both directories). */
export function renameDurably(from: string, to: string): void {
  fs.renameSync(from, to);
  syncDir(dirname(to));
  if (dirname(from) !== dirname(to)) syncDir(dirname(from));
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
