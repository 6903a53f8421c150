import { resolve, sep } from 'node:path';

/**
 * Whether `path` is `root` itself or lies below it, judged on the two paths
 * resolved (absolute, `.` and `..` segments and trailing slashes gone), whole
 * name by whole name: `/home/bob/..carol` and `/home/bobby` are not below
 * `/home/bob`. Lexical only: symlinks are not followed, so pass real paths
 * (or paths already checked to have none) when a link could matter. One
 * mechanism for every "is it inside" question the packages ask: a prefix
 * test (`startsWith('..')` on a relative path) once took `..carol` for
 * "outside" and let a home containing another user's home through.
 *
 * @example
 * ```ts
 * isWithin('/home/bob/..carol', '/home/bob'); // true
 * isWithin('/home/bobby', '/home/bob');       // false
 * isWithin('/a/b/../../etc', '/a');           // false
 * ```
 */
export function isWithin(path: string, root: string): boolean {
  const inner = resolve(path);
  const outer = resolve(root);
  if (inner === outer) return true;
  return inner.startsWith(outer === sep ? sep : `${outer}${sep}`);
}
