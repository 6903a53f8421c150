import * as fs from 'node:fs';
import { dirname, join } from 'node:path';

/** As many symlinks as the kernel follows resolving one path (MAXSYMLINKS) before it gives up with ELOOP. */
export const MOST_LINKS = 40;

/**
 * How {@link resolveNameByName} looks at entries and what it tells of each.
 *
 * @example
 * ```ts
 * import { lstatIfPresent, type NameByNameOptions } from '@unwind/core';
 *
 * const inImage: NameByNameOptions = { root: '/srv/image', lstat: lstatIfPresent };
 * ```
 */
export interface NameByNameOptions {
  /** The directory the path is resolved in, as a chroot would (an absolute link target starts there, `..` stops there); `/` by default. */
  root?: string;
  /** The lstat of an entry, by its full path on this machine; undefined when there is none. May throw to refuse one. */
  lstat(full: string): fs.Stats | undefined;
  /** Called for every entry met, with its path in the root's terms and its lstat, before a symlink is followed: throw to refuse it. */
  meet?(path: string, stat: fs.Stats): void;
}

/**
 * Resolves the absolute `path` one name at a time, as the kernel does: each
 * symlink is followed where it is met, at any depth; an absolute target
 * starts again at the root; `..` goes to the parent of what is resolved so
 * far, never above the root. Each entry met — directory, symlink or other —
 * is handed to `meet` first. For the checks that must see every entry the
 * kernel would pass through (a symlink in the middle another user may point
 * elsewhere), and for resolving paths inside an image mounted elsewhere.
 *
 * Returns the resolved path in the root's terms, or undefined when a name is
 * missing or more than 40 symlinks (the kernel's MAXSYMLINKS) are met. Reads only: what
 * it returns is for comparing, never to open (it can change at once).
 *
 * @example
 * ```ts
 * import * as fs from 'node:fs';
 * import { lstatIfPresent, resolveNameByName } from '@unwind/core';
 *
 * // with /srv/image/home/carol -> /home/bob/carol
 * resolveNameByName('/home/carol', { root: '/srv/image', lstat: lstatIfPresent }); // '/home/bob/carol'
 * resolveNameByName('/etc/app', {
 *   lstat: lstatIfPresent,
 *   meet: (path, stat) => {
 *     if (stat.uid !== 0) throw new Error(`${path} is not root's`);
 *   },
 * });
 * ```
 */
export function resolveNameByName(path: string, options: NameByNameOptions): string | undefined {
  const root = options.root ?? '/';
  const full = (inRoot: string) => (root === '/' ? inRoot : join(root, inRoot));
  // The names still to resolve, the next one last.
  const pending = path.split('/').reverse();
  let resolved = '/';
  let links = 0;
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      // The parent of a directory already resolved: itself resolved and met.
      resolved = dirname(resolved);
      continue;
    }
    const next = resolved === '/' ? `/${name}` : `${resolved}/${name}`;
    const st = options.lstat(full(next));
    if (st === undefined) return undefined;
    options.meet?.(next, st);
    if (st.isSymbolicLink()) {
      if (++links > MOST_LINKS) return undefined;
      const target = fs.readlinkSync(full(next));
      if (target.startsWith('/')) resolved = '/';
      for (const part of target.split('/').reverse()) pending.push(part);
      continue;
    }
    resolved = next;
  }
  return resolved;
}
