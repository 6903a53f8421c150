import * as fs from 'node:fs';
import { UnsupportedEntryError } from './errors.js';
import { O_PATH } from '@unwind/core';


let procUsable: boolean | undefined;

/** Whether `/proc/self/fd` is there to reopen an O_PATH descriptor through (checked once). */
function hasProc(): boolean {
  procUsable ??= fs.existsSync('/proc/self/fd');
  return procUsable;
}

/**
 * A path to read the file open on `fd` by (`/proc/self/fd/<fd>`): for a call
 * that takes a path, like `copyFileSync` (which reflinks), yet must read the
 * very file checked on the descriptor. Undefined without `/proc`.
 *
 * @example
 * ```ts
 * const { fd } = openRegularFile(from);
 * const path = descriptorPath(fd); // '/proc/self/fd/23'
 * ```
 */
export function descriptorPath(fd: number): string | undefined {
  return hasProc() ? `/proc/self/fd/${fd}` : undefined;
}

/**
 * What an entry is, for a message: `regular file`, `directory`, `symlink`, `FIFO`, `socket`,
 * `block device`, `character device`.
 *
 * @example
 * ```ts
 * throw new UnsupportedEntryError(path, kindOf(fs.fstatSync(fd, { bigint: true })), true);
 * ```
 */
export function kindOf(st: fs.BigIntStats): string {
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block device';
  if (st.isCharacterDevice()) return 'character device';
  return 'special file';
}

/**
 * Opens a file found in a live tree for reading, only when it is a regular
 * file, and returns the descriptor and its fstat. Snapshots scan a tree by
 * lstat and read it later; meanwhile its owner may put a FIFO (whose open
 * blocks until a writer comes: for ever), a device (whose open alone may act,
 * like /dev/watchdog's) or a symlink there. So the entry is first only named
 * (O_PATH|O_NOFOLLOW, which opens nothing), judged on that descriptor's
 * fstat, and only a regular file is reopened for reading, through
 * `/proc/self/fd`, O_NONBLOCK. Without `/proc`, it is opened
 * O_RDONLY|O_NONBLOCK|O_NOFOLLOW and judged by its fstat (a FIFO then opens
 * at once and is refused unread). Anything else throws
 * {@link UnsupportedEntryError} (`swapped`); a missing entry throws ENOENT.
 * `shown` names it in errors (for an entry reached as `/proc/self/fd/<dir>/<name>`).
 *
 * @example
 * ```ts
 * const { fd, stat } = openRegularFile('/srv/app/data.db');
 * try { if (stat.ino !== scanned.ino) throw new SnapshotSourceChangedError(path); } finally { fs.closeSync(fd); }
 * ```
 */
export function openRegularFile(path: string, shown = path): { fd: number; stat: fs.BigIntStats } {
  const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
  if (!hasProc()) {
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
    } catch (error) {
      // O_NOFOLLOW refuses a symlink with ELOOP; a socket cannot be opened (ENXIO).
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new UnsupportedEntryError(shown, 'symlink', true);
      if (code === 'ENXIO') throw new UnsupportedEntryError(shown, 'socket', true);
      throw error;
    }
    return judged(shown, fd);
  }
  const named = fs.openSync(path, O_PATH | O_NOFOLLOW);
  try {
    const st = fs.fstatSync(named, { bigint: true });
    if (!st.isFile()) throw new UnsupportedEntryError(shown, kindOf(st), true);
    const fd = fs.openSync(`/proc/self/fd/${named}`, O_RDONLY | O_NONBLOCK);
    const opened = judged(shown, fd);
    // The reopen goes through the named descriptor, so it is that inode; checked all the same.
    if (opened.stat.dev !== st.dev || opened.stat.ino !== st.ino) {
      fs.closeSync(fd);
      throw new UnsupportedEntryError(shown, 'different file', true);
    }
    return opened;
  } finally {
    fs.closeSync(named);
  }
}

/** The descriptor and its fstat when it is a regular file; otherwise closed and refused. */
function judged(path: string, fd: number): { fd: number; stat: fs.BigIntStats } {
  let st: fs.BigIntStats;
  try {
    st = fs.fstatSync(fd, { bigint: true });
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new UnsupportedEntryError(path, kindOf(st), true);
  }
  return { fd, stat: st };
}

/**
 * Copies the open file `fd` (read from offset 0) to a new file `to`
 * (O_EXCL, never following a link), for when it cannot be named by a path
 * (no `/proc`). A plain copy: no reflink.
 *
 * @example
 * ```ts
 * copyFromDescriptor(fd, stored, 0o600);
 * ```
 */
export function copyFromDescriptor(fd: number, to: string, mode = 0o600): void {
  const out = fs.openSync(to, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (let position = 0; ; ) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, position);
      if (n === 0) break;
      for (let done = 0; done < n; ) done += fs.writeSync(out, buffer, done, n - done);
      position += n;
    }
  } finally {
    fs.closeSync(out);
  }
}
