import * as fs from 'node:fs';
import { basename, dirname } from 'node:path';
import { syncDescriptor, O_PATH } from '@unwind/core';
import { TargetChangedError, UnexpectedFileTypeError } from './errors.js';

/*
 * Both helpers take `/proc/self/fd/<fd>/<name>`: the directory is already open (reached by the safe walk),
 * only `name` is looked up in it. Below that, everything goes through descriptors: a user who owns a
 * directory in the tree can swap any name for a symlink at any moment, and root must never follow it
 * (to read, write, chmod, chown or delete something outside the tree). A swap makes the call fail, never
 * redirects it.
 */

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = fs.constants;
const OPEN_DIRECTORY = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
const CHUNK = 1 << 20;

/** `path`'s directory (a `/proc/self/fd/<fd>` path) opened afresh, and `path`'s own name. */
function split(path: string): { dirFd: number; name: string } {
  if (!/^\/proc\/self\/fd\/\d+$/.test(dirname(path))) throw new Error(`internal: ${path} is not a name in an open directory`);
  // Not O_NOFOLLOW: `/proc/self/fd/<fd>` is the open directory itself, a link the kernel resolves to it.
  return { dirFd: fs.openSync(dirname(path), O_RDONLY | O_DIRECTORY), name: basename(path) };
}

const at = (dirFd: number, name: string) => `/proc/self/fd/${dirFd}/${name}`;

/**
 * Copies a tree preserving type, mode, owner, times and symlinks (never
 * following one), and fsyncs every file and directory it made, so a copy
 * that `copyTree` returned from survives a crash. Used for the opt-in
 * copy-then-delete across filesystems. Hard links become separate files;
 * sockets, fifos and devices are refused. Every file and directory is made
 * private to root (0600/0700, owned by the process) and gets its owner, then
 * its mode (set-id bits after the owner, which would clear them), only
 * through its own descriptor: nobody can take or redirect it half-made.
 */
export function copyTree(source: string, destination: string): void {
  const from = split(source);
  try {
    const to = split(destination);
    try {
      copyEntry(from.dirFd, from.name, to.dirFd, to.name);
    } finally {
      fs.closeSync(to.dirFd);
    }
  } finally {
    fs.closeSync(from.dirFd);
  }
}

function copyEntry(fromDir: number, name: string, toDir: number, toName: string): void {
  const source = at(fromDir, name);
  const st = fs.lstatSync(source);
  if (st.isSymbolicLink()) {
    const made = at(toDir, toName);
    fs.symlinkSync(fs.readlinkSync(source), made);
    fs.lchownSync(made, st.uid, st.gid); // made in a directory of ours that nobody else can reach
    return;
  }
  // Types are checked before opening (a device is never opened) and again on the descriptor (a swap since).
  if (!st.isDirectory() && !st.isFile()) throw notCopyable(source);
  const fd = openSource(source);
  try {
    const now = fs.fstatSync(fd);
    if (now.isDirectory()) copyDirectory(fd, now, toDir, toName);
    else if (now.isFile()) copyFile(fd, now, toDir, toName);
    else throw notCopyable(source);
  } finally {
    fs.closeSync(fd);
  }
}


function openSource(path: string): number {
  // Named first (O_PATH), then opened through that descriptor (the same inode) only when it is a file or a
  // directory: a symlink, FIFO or device swapped in since the lstat is refused, never followed, waited on or opened.
  const named = fs.openSync(path, O_PATH | O_NOFOLLOW);
  try {
    const st = fs.fstatSync(named);
    if (st.isSymbolicLink()) throw new TargetChangedError(`${path} became a symlink while being copied; not following it`, { path });
    if (!st.isFile() && !st.isDirectory()) throw notCopyable(path);
    return fs.openSync(`/proc/self/fd/${named}`, O_RDONLY | O_NONBLOCK);
  } finally {
    fs.closeSync(named);
  }
}

function copyDirectory(fromFd: number, st: fs.Stats, toDir: number, toName: string): void {
  fs.mkdirSync(at(toDir, toName), { mode: 0o700 });
  const fd = openMadeDirectory(toDir, toName);
  try {
    for (const child of fs.readdirSync(`/proc/self/fd/${fromFd}`)) copyEntry(fromFd, child, fd, child);
    finish(fd, st, at(toDir, toName));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Makes `path` (`/proc/self/fd/<fd>/<name>`) a new directory private to
 * root (0700) and opens it, refusing anything else found there; the caller
 * closes the descriptor. A copy made inside it cannot be reached by the
 * owner of the directory it is in, whatever that owner renames.
 */
export function makePrivateDirectoryAt(path: string): number {
  const { dirFd, name } = split(path);
  try {
    fs.mkdirSync(at(dirFd, name), { mode: 0o700 });
    return openMadeDirectory(dirFd, name);
  } finally {
    fs.closeSync(dirFd);
  }
}

/** Opens the directory just made, refusing anything else that is there now (only ours: root's, 0700). */
function openMadeDirectory(dirFd: number, name: string): number {
  const path = at(dirFd, name);
  const changed = () => new TargetChangedError(`${path} is not the directory just made for the copy; not copying into it`, { path });
  let fd: number;
  try {
    fd = fs.openSync(path, OPEN_DIRECTORY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') throw changed();
    throw error;
  }
  const st = fs.fstatSync(fd);
  if (st.uid !== (process.getuid?.() ?? 0) || (st.mode & 0o077) !== 0) {
    fs.closeSync(fd);
    throw changed();
  }
  return fd;
}

function copyFile(fromFd: number, st: fs.Stats, toDir: number, toName: string): void {
  const fd = fs.openSync(at(toDir, toName), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = fs.readSync(fromFd, buffer, 0, CHUNK, null);
      if (n === 0) break;
      for (let off = 0; off < n; ) off += fs.writeSync(fd, buffer, off, n - off);
    }
    finish(fd, st, at(toDir, toName));
  } finally {
    fs.closeSync(fd);
  }
}

/** Owner, then mode (chown clears set-id bits), then times, then fsync: all on the made file's own descriptor. */
function finish(fd: number, st: fs.Stats, shown: string): void {
  fs.fchownSync(fd, st.uid, st.gid);
  fs.fchmodSync(fd, st.mode & 0o7777);
  fs.futimesSync(fd, st.atime, st.mtime);
  syncDescriptor(fd, shown);
}

function notCopyable(path: string): UnexpectedFileTypeError {
  return new UnexpectedFileTypeError(`${path} is not a file, directory or symlink; cannot copy it across filesystems`, { path });
}
