import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { DurableWriteError } from './errors.js';

/**
 * The one place unwind makes bytes and directory entries durable. Every
 * package uses these (and the atomic replace in `durable-replace.ts`); none
 * keeps a private fsync or atomic write.
 *
 * Synchronous on purpose: a journal append must be on disk before the next
 * step starts, and a thread-pool round-trip per record would cost more than
 * the write. A failed fsync is never retried: after one, Linux may have
 * dropped the dirty pages, and a second fsync would report success for data
 * that is gone.
 */

/**
 * The most a disk is sure to write whole: one sector. Linux promises no
 * more (only hardware with atomic writes does): a 4 KiB page written back
 * to a disk of 512-byte sectors may reach it in part, its sectors kept in
 * any order. Bytes already synced that a write covers are therefore safe
 * only when that write lies within one sector, or when nothing would read
 * a mix of old and new sectors wrongly. The power-loss explorer tears
 * writes at these boundaries.
 */
export const SECTOR_SIZE = 512;

/**
 * Writes every byte of `data` at the descriptor's position (or at `position`
 * in the file, leaving the descriptor's position alone), or throws
 * {@link DurableWriteError}. `write(2)` may write fewer bytes than asked (a
 * nearly full disk, a signal): the rest is written by further calls, and a
 * call that writes nothing ends it with an error rather than a half record.
 *
 * @example
 * ```ts
 * const fd = fs.openSync(path, 'a');
 * writeFully(fd, encodeLine(record), path);
 * fs.fdatasyncSync(fd);
 * ```
 */
export function writeFully(fd: number, data: string | Uint8Array, path: string, position?: number): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let offset = 0;
  while (offset < bytes.length) {
    let written: number;
    try {
      written = position === undefined ? fs.writeSync(fd, bytes, offset, bytes.length - offset) : fs.writeSync(fd, bytes, offset, bytes.length - offset, position + offset);
    } catch (error) {
      throw new DurableWriteError(path, `wrote ${offset} of ${bytes.length} bytes`, error);
    }
    if (written <= 0) throw new DurableWriteError(path, `wrote ${offset} of ${bytes.length} bytes (the write returned ${written})`);
    offset += written;
  }
}

/**
 * fsyncs an open descriptor; a failure is a {@link DurableWriteError}, never retried.
 *
 * @example
 * ```ts
 * writeFully(fd, bytes, path);
 * syncDescriptor(fd, path);
 * ```
 */
export function syncDescriptor(fd: number, path: string): void {
  try {
    fs.fsyncSync(fd);
  } catch (error) {
    throw new DurableWriteError(path, 'fsync failed', error);
  }
}

/**
 * fsyncs a directory, so the entries created, renamed or removed in it
 * survive a crash. (Syncing through a symlink syncs the real directory,
 * which is what a caller naming it means.)
 *
 * @example
 * ```ts
 * fs.renameSync(tmp, target); syncDirectory(dirname(target));
 * ```
 */
export function syncDirectory(path: string): void {
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    syncDescriptor(fd, path);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * fsyncs a file's (or directory's) contents and metadata, never following a
 * symlink at `path`: a symlink has nothing of its own to sync (its directory
 * entry is synced with its directory), so it returns without error. With
 * `missingOk`, a path that vanished is not an error either.
 *
 * @example
 * ```ts
 * syncFile('/var/lib/app/state.json');
 * for (const path of written) syncFile(path, { missingOk: true });
 * ```
 */
export function syncFile(path: string, options: { missingOk?: boolean } = {}): void {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || (code === 'ENOENT' && options.missingOk)) return;
    throw error;
  }
  try {
    syncDescriptor(fd, path);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Creates a new file with O_EXCL|O_NOFOLLOW (never opening, following or
 * replacing anything already at `path`), writes every byte, fsyncs it, and
 * fsyncs its directory. On failure the half-written file is removed.
 *
 * @example
 * ```ts
 * writeNewFileDurably('/var/lib/app/unwind/tx/blobs/0/before', bytes, 0o600);
 * ```
 */
export function writeNewFileDurably(path: string, data: string | Uint8Array, mode = 0o600): void {
  const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  try {
    try {
      writeFully(fd, data, path);
      syncDescriptor(fd, path);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    fs.rmSync(path, { force: true }); // we created it (O_EXCL): it is ours to remove
    throw error;
  }
  syncDirectory(dirname(path));
}

/**
 * Creates a directory (and missing parents) with `mode`, fsyncing every
 * parent whose entries changed. A directory that already exists is left as
 * it is (its mode is not changed).
 *
 * @example
 * ```ts
 * makeDirectoryDurably('/var/lib/app/unwind', 0o700);
 * ```
 */
export function makeDirectoryDurably(path: string, mode = 0o700): void {
  // The mode is the directory's own metadata: make it durable too.
  if (makeDirectoryForEntry(path, mode)) syncDirectory(path);
}

/**
 * {@link makeDirectoryDurably} less the new directory's own sync, for a
 * caller about to create an entry in it and sync the directory then: that
 * one sync makes the mode and the entry durable together (a sync per blob
 * saved). Until then the directory may vanish or lose its mode in a crash,
 * so nothing may refer to it before the caller's sync. Returns whether the
 * directory was created. Internal.
 *
 * @example
 * ```ts
 * makeDirectoryForEntry(own, 0o700);
 * writeNewFileDurably(join(own, name), data); // syncs `own` once, after the entry
 * ```
 */
export function makeDirectoryForEntry(path: string, mode = 0o700): boolean {
  const created = fs.mkdirSync(path, { recursive: true, mode });
  if (created === undefined) return false;
  // mkdir -p returns the first directory it created; sync it and every parent up to there.
  let dir = path;
  for (;;) {
    syncDirectory(dirname(dir));
    if (dir === created) break;
    dir = dirname(dir);
  }
  // The umask may have narrowed the mode: be exact, on the directory made, never through a symlink
  // someone put in its place meanwhile.
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    fs.fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/**
 * unlink(2), where a file already gone is fine. (`fs.rmSync` examines the
 * path twice before it unlinks: this is one system call.) Internal.
 *
 * @example
 * ```ts
 * removeFileIfPresent(join(dir, 'journal.jsonl'));
 * ```
 */
export function removeFileIfPresent(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
