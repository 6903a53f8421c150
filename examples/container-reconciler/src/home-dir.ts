// Reaching a directory in a container user's home as root, the way
// @unwind/systemd's installUnit reaches a user's unit directory (its
// `openUnitDirectory` is not exported): the user owns every directory from
// the home down and could swap any of them for a symlink (to
// /etc/systemd/system) between a check and a use, so nothing there is
// reached by a path. The home is walked by @unwind/files'
// `openDirectorySafely`; below it every component is opened
// O_NOFOLLOW|O_DIRECTORY through the parent's descriptor, and names in the
// directory are reached through `/proc/self/fd/<fd>/<name>`.
import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import { runningUid, UnwindError } from '@unwind/core';
import { openDirectorySafely, UnexpectedFileTypeError, UnsafePathError } from '@unwind/files';

/** An open directory: `self` for a listing or a sync, `entry(name)` for a name in it. */
export interface HomeDirHandle {
  /** The path it stands for: for messages only, never to reach anything. */
  readonly path: string;
  readonly fd: number;
  /** `/proc/self/fd/<fd>`. */
  readonly self: string;
  /** `/proc/self/fd/<fd>/<name>`. */
  entry(name: string): string;
  close(): void;
}

const OPEN_DIRECTORY_NOFOLLOW = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

function handle(path: string, fd: number): HomeDirHandle {
  const self = `/proc/self/fd/${fd}`;
  return { path, fd, self, entry: (name) => `${self}/${name}`, close: () => fs.closeSync(fd) };
}

/**
 * Where the walk by `openDirectorySafely` stops and the O_NOFOLLOW descent
 * begins: `home` when `path` is inside it, else the directory above the
 * first `.config` component (`<home>/.config/systemd/user`,
 * `<home>/.config/containers/systemd`), else `path` itself (walked whole:
 * a symlink another user could have put there is refused by the walk).
 */
function split(path: string, home: string | undefined): { top: string; below: string[] } {
  if (home !== undefined) {
    const rel = relative(home, path);
    if (rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'))) return { top: home, below: rel.split('/').filter((p) => p !== '') };
  }
  const match = /^(.+?)\/(\.config(?:\/.*)?)$/.exec(path);
  if (match) return { top: match[1]!, below: match[2]!.split('/').filter((p) => p !== '') };
  return { top: path, below: [] };
}

/**
 * Opens the directory `path` (absolute), in the home `home` when given;
 * undefined when it or a directory above it is missing. A symlink below the
 * home (any, even root's), a non-directory there, or a directory of another
 * owner inside one of the user's (an unsafe transition) is refused with
 * UnsafePathError before anything is touched; above the home the rules of
 * `openDirectorySafely` apply.
 *
 * @example
 * ```ts
 * const dir = openHomeDirectory('/home/web/.config/containers/systemd');
 * if (dir) try { fs.readdirSync(dir.self); } finally { dir.close(); }
 * ```
 */
export function openHomeDirectory(path: string, home?: string): HomeDirHandle | undefined {
  const { top, below } = split(path, home);
  let dir: HomeDirHandle;
  try {
    // follow: a link of root's in a directory only root can change (/home -> /usr/home) is as safe as a directory.
    dir = handle(top, openDirectorySafely(top, { what: 'the directory', follow: true }));
  } catch (error) {
    if (error instanceof UnexpectedFileTypeError && error.context.missing !== undefined) return undefined;
    throw error;
  }
  for (const name of below) {
    let child: HomeDirHandle | undefined;
    try {
      child = openChild(dir, name);
    } finally {
      dir.close();
    }
    if (!child) return undefined;
    dir = child;
  }
  return dir;
}

/** {@link openHomeDirectory} around `fn`, closing it after; `fn` gets undefined when the directory is missing. */
export function inHomeDirectory<T>(path: string, fn: (dir: HomeDirHandle | undefined) => T, home?: string): T {
  const dir = openHomeDirectory(path, home);
  try {
    return fn(dir);
  } finally {
    dir?.close();
  }
}

function openChild(parent: HomeDirHandle, name: string): HomeDirHandle | undefined {
  const shown = join(parent.path, name);
  let fd: number;
  try {
    fd = fs.openSync(parent.entry(name), OPEN_DIRECTORY_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new UnsafePathError(shown, shown, 'is a symlink or not a directory; refusing to follow it or change anything there');
    throw error;
  }
  const above = fs.fstatSync(parent.fd);
  const here = fs.fstatSync(fd);
  if (above.uid !== 0 && above.uid !== runningUid() && here.uid !== above.uid) {
    fs.closeSync(fd);
    throw new UnsafePathError(shown, shown, `leads from a directory of uid ${above.uid} into one of uid ${here.uid}: an unsafe path transition`);
  }
  return handle(shown, fd);
}

/** Whether `entry` exists, the entry itself (a symlink is one; never followed). */
export function entryExists(entry: string): boolean {
  return fs.lstatSync(entry, { throwIfNoEntry: false }) !== undefined;
}

/** The most a file read from a user's home may hold. */
export const HOME_FILE_MAX_BYTES = 1024 * 1024;

/**
 * A file in a container user's home that root will not read: a symlink, a
 * FIFO, a device or anything but a regular file, or one larger than
 * {@link HOME_FILE_MAX_BYTES}. Code HOME_FILE_REFUSED; nothing was changed.
 *
 * @example
 * ```ts
 * try { readHomeFile(dir, 'web.container', shown); } catch (error) { if (error instanceof HomeFileRefusedError) console.error(error.context.path); }
 * ```
 */
export class HomeFileRefusedError extends UnwindError<'HOME_FILE_REFUSED'> {
  constructor(path: string, reason: string) {
    super('HOME_FILE_REFUSED', `${path} ${reason}; refusing to read it`, { context: { path, reason } });
  }
}

/**
 * The text of the regular file `name` in the open directory `dir`, or null
 * when nothing is there. Opened O_RDONLY|O_NOFOLLOW|O_NONBLOCK (a symlink is
 * refused, a FIFO never blocks), then required by fstat to be a regular file
 * of at most `max` bytes; otherwise {@link HomeFileRefusedError}.
 *
 * @example
 * ```ts
 * const text = inHomeDirectory(quadletDir, (dir) => (dir ? readHomeFile(dir, 'web.container') : null));
 * ```
 */
export function readHomeFile(dir: HomeDirHandle, name: string, max = HOME_FILE_MAX_BYTES): string | null {
  const shown = join(dir.path, name);
  let fd: number;
  try {
    fd = fs.openSync(dir.entry(name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new HomeFileRefusedError(shown, 'is a symlink');
    if (code === 'ENXIO' || code === 'EISDIR') throw new HomeFileRefusedError(shown, 'is not a regular file');
    throw error;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new HomeFileRefusedError(shown, 'is not a regular file');
    if (st.size > max) throw new HomeFileRefusedError(shown, `is larger than ${max} bytes (${st.size})`);
    // It may grow while it is read: never read more than the limit.
    const buffer = Buffer.alloc(max + 1);
    let length = 0;
    for (;;) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > max) throw new HomeFileRefusedError(shown, `is larger than ${max} bytes`);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
