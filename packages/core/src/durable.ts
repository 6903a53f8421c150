import * as fs from 'node:fs';
import { dirname } from 'node:path';

/**
 * Small, synchronous durability primitives. They are synchronous on purpose:
 * a journal append must be on disk before the next step starts, and a thread
 * pool round-trip per record would cost more than the write.
 */

/**
 * fsyncs a directory, so the entries created, renamed or removed in it survive a crash.
 *
 * @example
 * ```ts
 * fs.renameSync(tmp, target); syncDirectory(dirname(target));
 * ```
 */
export function syncDirectory(path: string): void {
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * fsyncs a file's contents and metadata.
 *
 * @example
 * ```ts
 * syncFile('/var/lib/app/state.json');
 * ```
 */
export function syncFile(path: string): void {
  const fd = fs.openSync(path, fs.constants.O_RDONLY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Creates a new file with O_EXCL (never following or replacing anything at
 * `path`), writes it, fsyncs it, and fsyncs its directory.
 *
 * @example
 * ```ts
 * writeNewFileDurably('/var/lib/app/unwind/tx/blobs/0/before', bytes, 0o600);
 * ```
 */
export function writeNewFileDurably(path: string, data: string | Uint8Array, mode = 0o600): void {
  const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  syncDirectory(dirname(path));
}

/**
 * Creates a directory (and missing parents) with `mode`, fsyncing every parent
 * whose entries changed.
 *
 * @example
 * ```ts
 * makeDirectoryDurably('/var/lib/app/unwind', 0o700);
 * ```
 */
export function makeDirectoryDurably(path: string, mode = 0o700): void {
  const created = fs.mkdirSync(path, { recursive: true, mode });
  if (created === undefined) return;
  // mkdir -p returns the first directory it created; sync it and every parent up to there.
  let dir = path;
  for (;;) {
    syncDirectory(dirname(dir));
    if (dir === created) break;
    dir = dirname(dir);
  }
  fs.chmodSync(path, mode); // the umask may have narrowed or widened nothing, but be exact
}
