/**
 * The id the explorer gives an inode that existed before the run: its
 * device and its number. A number alone names an inode on one filesystem
 * only: a sandbox spanning two (a tmpfs mounted inside it, to explore a
 * cross-filesystem step) has the same numbers on both.
 *
 * @example
 * ```ts
 * inodeKey(fs.lstatSync(path)); // 'i2049.131074'
 * ```
 */
export function inodeKey(st: { dev: number; ino: number }): string {
  return `i${st.dev}.${st.ino}`;
}
