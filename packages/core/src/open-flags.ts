/**
 * Linux's O_PATH, which Node has no constant for: a descriptor that only
 * names an entry. Opening with it reads nothing and opens nothing (a FIFO
 * does not block, a device is not opened), and with O_NOFOLLOW it names a
 * symlink itself; the entry is then judged on the descriptor's `fstat` and
 * reached through `/proc/self/fd/<fd>`, never by its name again.
 *
 * @example
 * ```ts
 * const fd = fs.openSync(path, O_PATH | fs.constants.O_NOFOLLOW);
 * try { if (!fs.fstatSync(fd).isFile()) throw new Error('not a regular file'); } finally { fs.closeSync(fd); }
 * ```
 */
export const O_PATH = 0o10000000;
