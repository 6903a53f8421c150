import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { assertTrustedDirectory, makeDirectoryDurably, writeFileAtomically } from '@unwind/core';

/**
 * Writes a JSON document atomically: a temp file created with O_EXCL and
 * O_NOFOLLOW beside the target, written, fsynced, renamed over the target
 * (never writing through a symlink planted there), then the directory
 * fsynced. A reader sees the old status or the new one, never half of one.
 * The directory (or, while it does not exist, its nearest existing one) must
 * be one nobody but root or the running user can change (core's
 * `assertTrustedDirectory`): a directory of another user's on the way could
 * be swapped for a link, and the status land wherever it points.
 *
 * @example
 * ```ts
 * writeJsonAtomically('/var/lib/app/status.json', report);
 * ```
 */
export function writeJsonAtomically(path: string, value: unknown, mode = 0o644): void {
  assertTrustedDirectory(dirname(path), 'status file directory');
  makeDirectoryDurably(dirname(path), 0o755);
  writeFileAtomically(path, `${JSON.stringify(value, null, 2)}\n`, { mode });
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
