import * as fs from 'node:fs';

/** What a failed FICLONE says when the filesystem cannot share extents between these two files (so a plain copy is made). */
const CANNOT_CLONE = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY']);

/**
 * Puts a copy of `from` at `to` (which must not exist), as a reflink where
 * the filesystem can and a plain copy elsewhere, and says which. A reflink
 * made with FICLONE (`COPYFILE_FICLONE_FORCE`) is all or nothing, under the
 * kernel's lock on both files: when it succeeds, `to` holds exactly the
 * bytes `from` held at that instant, sharing its extents. A plain copy
 * carries no such proof. After the first refusal on a filesystem, `state`
 * makes the later calls copy at once. With `exclusive: false`, `to` may be
 * an existing file (a restore passes `/proc/self/fd/<fd>` of a file it just
 * created O_EXCL|O_NOFOLLOW, so that the copy lands in that very file even
 * if its name is swapped meanwhile); it is truncated first.
 *
 * @example
 * ```ts
 * const state = { canClone: true };
 * if (cloneOrCopy(blob, tmp, state)) console.log('reflinked');
 * ```
 */
export function cloneOrCopy(from: string, to: string, state: { canClone: boolean }, options: { exclusive?: boolean } = {}): boolean {
  const excl = options.exclusive === false ? 0 : fs.constants.COPYFILE_EXCL;
  if (state.canClone) {
    try {
      fs.copyFileSync(from, to, fs.constants.COPYFILE_FICLONE_FORCE | excl);
      return true;
    } catch (error) {
      if (!CANNOT_CLONE.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
      state.canClone = false;
    }
  }
  fs.copyFileSync(from, to, excl);
  return false;
}
