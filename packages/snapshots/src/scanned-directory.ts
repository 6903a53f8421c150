import * as fs from 'node:fs';
import { O_PATH } from '@unwind/core';
import { UnsupportedEntryError } from './errors.js';
import { kindOf } from './regular.js';

/**
 * Opens a directory a scan found, so that what is in it is listed, looked
 * at and read through this descriptor (`/proc/self/fd/<fd>/<name>`), never
 * by a path its owner could redirect: a user who owns a directory on the
 * way can swap a directory of theirs for a symlink to /etc between two
 * calls by path, and the scan would then record, and a restore trust,
 * another file's content. Opened O_PATH|O_DIRECTORY|O_NOFOLLOW (nothing is
 * read, a symlink is refused, never followed), `at` being the entry reached
 * through its parent's descriptor (or the tree root's own path); returns
 * the descriptor and its fstat, whose identity is then the scan's.
 * Anything but a directory there now throws {@link UnsupportedEntryError}
 * (`swapped`); a missing one ENOENT. `shown` names it in errors.
 *
 * @example
 * ```ts
 * const { fd, stat } = openScannedDirectory(`/proc/self/fd/${parent}/sub`, '/srv/app/sub');
 * try { console.log(fs.readdirSync(`/proc/self/fd/${fd}`), stat.ino); } finally { fs.closeSync(fd); }
 * ```
 */
export function openScannedDirectory(at: string, shown: string): { fd: number; stat: fs.BigIntStats } {
  let fd: number;
  try {
    fd = fs.openSync(at, O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'ENOTDIR') throw error;
    const now = fs.lstatSync(at, { bigint: true, throwIfNoEntry: false });
    if (now === undefined) throw error;
    throw new UnsupportedEntryError(shown, kindOf(now), true, 'a directory');
  }
  try {
    return { fd, stat: fs.fstatSync(fd, { bigint: true }) };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}
