import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { makeDirectoryDurably, syncDirectory } from '@unwind/core';

/**
 * Writes a JSON document atomically: a temp file created with O_EXCL and
 * O_NOFOLLOW beside the target, written, fsynced, renamed over the target
 * (never writing through a symlink planted there), then the directory
 * fsynced. A reader sees the old status or the new one, never half of one.
 *
 * @example
 * ```ts
 * writeJsonAtomically('/var/lib/app/status.json', report);
 * ```
 */
export function writeJsonAtomically(path: string, value: unknown, mode = 0o644): void {
  const dir = dirname(path);
  makeDirectoryDurably(dir, 0o755);
  const temp = join(dir, `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  try {
    try {
      fs.writeFileSync(fd, `${JSON.stringify(value, null, 2)}\n`);
      fs.fchmodSync(fd, mode);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, path);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
  syncDirectory(dir);
}

/**
 * Reads a status file written by a run; `undefined` when there is none.
 *
 * @example
 * ```ts
 * const last = readStatusFile('/var/lib/app/status.json');
 * if (last?.exitCode) console.error('the last run failed');
 * ```
 */
export function readStatusFile<T = import('./types.js').ReconcileReport>(path: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(path, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
