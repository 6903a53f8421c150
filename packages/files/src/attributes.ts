import * as fs from 'node:fs';
import { InvalidInputError, validateAbsolutePath, syncDescriptor, O_PATH } from '@unwind/core';
import { HardLinkRefusedError, SymlinkRefusedError, UnexpectedFileTypeError } from './errors.js';
import { safeReadlink } from './fsutil.js';
import { basename, dirname } from 'node:path';
import { checkSameEntry, identityOfStats, lstatSafely, type Identity, type Phase } from './directory-handle.js';
import { openDirectorySafely } from './safe-path.js';


/**
 * Changes mode or owner through a descriptor opened with O_NOFOLLOW, so a
 * symlink swapped in at the path is refused instead of redirecting the change
 * to whatever it points at. The change is fsynced before returning.
 */
export function withNoFollow<T>(path: string, fn: (fd: number, now: { mode: number; uid: number; gid: number }) => T, expected?: { identity: Identity | undefined; phase: Phase }): T {
  // Named first (O_PATH): what is at the path is judged before anything is opened, so a device
  // swapped in since prepare is refused without its driver being called (opening some arms them).
  const { fd: named } = openNoFollow(path, { pathOnly: true });
  try {
    // One fstat gives both the identity (exact: bigint) and what fn compares.
    const st = fs.fstatSync(named, { bigint: true });
    // The very file prepare looked at: a parent swapped for a symlink since leads to another inode, refused untouched.
    if (expected?.identity) checkSameEntry(`/proc/self/fd/${named}`, path, expected.identity, expected.phase, identityOfStats(st));
    refuseDevice(path, st);
    // The same inode opened for the change and its fsync (the magic link is the descriptor's, never the path again).
    const fd = fs.openSync(`/proc/self/fd/${named}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const opened = fs.fstatSync(fd, { bigint: true });
      if (opened.dev !== st.dev || opened.ino !== st.ino) throw new UnexpectedFileTypeError(`${path} changed while it was opened; not changed`, { path });
      const result = fn(fd, { mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid) });
      syncDescriptor(fd, path);
      return result;
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    fs.closeSync(named);
  }
}

/** Devices and sockets: chmod and chown change files and directories (FIFOs too), never a device node, which opening could set off. */
function refuseDevice(path: string, st: fs.BigIntStats): void {
  if (st.isCharacterDevice() || st.isBlockDevice() || st.isSocket()) {
    throw new UnexpectedFileTypeError(`${path} is a ${st.isSocket() ? 'socket' : 'device node'}; its mode and owner are not changed`, { path });
  }
}

/**
 * Opens `path` without following a symlink (O_NONBLOCK: a FIFO is not waited
 * on), its directory reached component by component: a symlink above it
 * that someone else controls is refused. Returns the descriptor and the
 * directory's stats, taken from the descriptor the file was opened through.
 */
function openNoFollow(path: string, options: { pathOnly?: boolean } = {}): { fd: number; parent: fs.BigIntStats } {
  const parent = openDirectorySafely(dirname(path), { what: 'the directory of', follow: true, pathOnly: true });
  try {
    const entry = `/proc/self/fd/${parent}/${basename(path)}`;
    let fd: number;
    try {
      fd = fs.openSync(entry, (options.pathOnly ? O_PATH : fs.constants.O_RDONLY | fs.constants.O_NONBLOCK) | fs.constants.O_NOFOLLOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new SymlinkRefusedError(path, safeReadlink(entry));
      throw error;
    }
    // With O_PATH a symlink is opened itself rather than refused with ELOOP.
    if (options.pathOnly && fs.fstatSync(fd).isSymbolicLink()) {
      fs.closeSync(fd);
      throw new SymlinkRefusedError(path, safeReadlink(entry));
    }
    return { fd, parent: fs.fstatSync(parent, { bigint: true }) };
  } finally {
    fs.closeSync(parent);
  }
}

/**
 * What a prepare of chmod, chown or ensureDir records: mode, owner and
 * identity from one fstat of one descriptor (separate lookups could see two
 * files, or none for the identity, which then went unchecked). A file with
 * other hard links in a directory someone other than root can write is
 * refused ({@link HardLinkRefusedError}): another of its names may be a
 * file the path's owner does not own.
 */
export function inspectTarget(path: string): { mode: number; uid: number; gid: number; entry: Identity } {
  // O_PATH: looking opens nothing (a device at the path is not opened by a prepare).
  const { fd, parent } = openNoFollow(path, { pathOnly: true });
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    refuseDevice(path, st);
    const privateParent = parent.uid === BigInt(process.getuid?.() ?? 0) && (parent.mode & 0o022n) === 0n;
    if (!st.isDirectory() && st.nlink > 1n && !privateParent) throw new HardLinkRefusedError(path, Number(st.nlink));
    return { mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), entry: identityOfStats(st) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads mode and owner without following a symlink; refuses one. */
export function statNoFollow(path: string): { mode: number; uid: number; gid: number } {
  const st = lstatSafely(path);
  if (!st) throw Object.assign(new Error(`ENOENT: no such file or directory, lstat '${path}'`), { code: 'ENOENT', path });
  if (st.isSymbolicLink()) throw new SymlinkRefusedError(path, safeReadlink(path));
  return { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) };
}

/** Validates the path argument of chmod/chown. */
export function validateTarget(path: string): void {
  validateAbsolutePath(path, { what: 'path' });
  if (path === '/') throw new InvalidInputError('refusing to change the mode or owner of /', { path });
}
