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


/**
 * What {@link readSource} read: the bytes, and the mode (permission bits), owner, size and link count from
 * the fstat of the very descriptor they were read from, so all of it describes one file.
 *
 * @example
 * ```ts
 * const { bytes, mode, uid, gid, nlink }: SourceFile = readSource(dir.entry('app.conf'), '/etc/app.conf');
 * ```
 */
export interface SourceFile {
  bytes: Buffer;
  mode: number;
  uid: number;
  gid: number;
  /** `st_size` when it was opened (`bytes.length` is what was read). */
  size: number;
  nlink: number;
}

/**
 * A regular file's bytes, mode, owner and link count, read through one descriptor (never following a symlink),
 * so all describe the same file: two lookups of one name may find two files (a user who owns the directory can
 * rename a hard link to /etc/shadow over their file in between). Only the last component is guarded: give a
 * name in an open directory, or a path of ours. `shown` names it in errors; with `refuseHardLinks` a file with
 * other names is a {@link HardLinkRefusedError} saying `refusing`.
 *
 * @example
 * ```ts
 * const { bytes, mode } = readSource(`/proc/self/fd/${dir}/app.conf`, '/srv/app.conf', { refuseHardLinks: true });
 * ```
 */
export function readSource(path: string, shown = path, options: { refuseHardLinks?: boolean; refusing?: string } = {}): SourceFile {
  // Named first (O_PATH: nothing is opened, so a device put there is never opened), read only once it is a regular file.
  const named = fs.openSync(path, O_PATH | fs.constants.O_NOFOLLOW);
  let fd: number;
  try {
    const st = fs.fstatSync(named);
    if (st.isSymbolicLink()) throw new SymlinkRefusedError(shown, safeReadlink(path));
    if (!st.isFile()) throw new UnexpectedFileTypeError(`${shown} is not a regular file`, { path: shown });
    // Another name of it may be a file whose owner the source's does not know of (a user's hard link to /etc/shadow).
    if (options.refuseHardLinks && st.nlink > 1) throw new HardLinkRefusedError(shown, st.nlink, options.refusing ?? 'refusing to read it as a source');
    // Reopened through the descriptor: the same inode, whatever is at the name by now.
    fd = fs.openSync(`/proc/self/fd/${named}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } finally {
    fs.closeSync(named);
  }
  try {
    const st = fs.fstatSync(fd);
    // A link made since the look above counts too: the same rule on the descriptor the bytes come from.
    if (options.refuseHardLinks && st.nlink > 1) throw new HardLinkRefusedError(shown, st.nlink, options.refusing ?? 'refusing to read it as a source');
    return { bytes: fs.readFileSync(fd), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink };
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

/**
 * Whether a directory (its stats) is one only the running user can change: theirs, and writable by neither
 * group nor others. A file with other hard links is taken only from such a directory: elsewhere another name
 * may be a file its owner does not own (a user's link to /etc/shadow).
 *
 * @example
 * ```ts
 * const refuseHardLinks = !isPrivateDirectory(fs.fstatSync(dir.fd));
 * ```
 */
export function isPrivateDirectory(st: { uid: number; mode: number }): boolean {
  return st.uid === (process.geteuid?.() ?? 0) && (st.mode & 0o022) === 0;
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

