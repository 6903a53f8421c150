import * as fs from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { lstatIfPresent, resolveNameByName } from '@unwind/core';
import { PrefixEscapeError } from './errors.js';

/**
 * `path` (absolute, as the prefix root's own files name it) on disk:
 * PREFIX/path, once it is known to resolve inside the prefix's real path.
 * A prefix root is an image someone else may have built: `home -> /home`,
 * `etc -> /etc` or an absolute link meant for the image's own root would
 * otherwise make unwind read, edit or remove the machine's files. The part
 * that exists is resolved (realpath); a part that does not exist yet cannot
 * lead anywhere, but a dangling symlink could (a write would follow it), so
 * it is refused. Throws PrefixEscapeError; reads only. Called on every use,
 * not once, so a step's later phases are judged again.
 *
 * @example
 * ```ts
 * inPrefix('/srv/root', '/etc/passwd'); // '/srv/root/etc/passwd'
 * // with /srv/root/home -> /home: PrefixEscapeError: /srv/root/home/bob resolves to /home/bob, outside the prefix root /srv/root
 * ```
 */
export function inPrefix(prefix: string, path: string): string {
  const onDisk = join(prefix, path);
  const root = realOrRefuse(prefix);
  let existing = onDisk;
  let real: string | undefined;
  while (real === undefined) {
    try {
      real = fs.realpathSync(existing);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      // A regular file where the image has a directory is not an escape: the walk goes on up.
      if (lstatIfPresent(existing)?.isSymbolicLink()) throw new PrefixEscapeError(prefix, onDisk, `has a dangling symlink ${existing}`);
      if (dirname(existing) === existing) break;
      existing = dirname(existing);
    }
  }
  // `/` always resolves, so the walk above ends with `real` set.
  const resolved = join(real ?? '/', relative(existing, onDisk));
  const r = relative(root, resolved);
  if (r === '..' || r.startsWith(`..${sep}`)) throw new PrefixEscapeError(prefix, onDisk, `resolves to ${resolved}`);
  return onDisk;
}

/**
 * A directory the caller named on the machine (an absolute path, not one of
 * the image's own), required to lie inside the prefix, as the prefix's own
 * paths are ({@link inPrefix}): given through the prefix as written or
 * through its real path, and resolving inside it. Returns it on disk. For a
 * step told to act on an image and handed a path too: `removeUser` on a
 * prefix with a `lingerDir` of the machine's would remove the machine's
 * linger file of a same-named user. Throws PrefixEscapeError; reads only.
 *
 * @example
 * ```ts
 * machinePathInPrefix('/srv/root', '/srv/root/var/lib/systemd/linger'); // '/srv/root/var/lib/systemd/linger'
 * machinePathInPrefix('/srv/root', '/var/lib/systemd/linger');
 * // PrefixEscapeError: /var/lib/systemd/linger is a path of the machine, outside the prefix root /srv/root; refusing to use it
 * ```
 */
export function machinePathInPrefix(prefix: string, path: string): string {
  const absolute = resolve(path);
  for (const base of [resolve(prefix), realOrRefuse(prefix)]) {
    const inside = relative(base, absolute);
    if (inside !== '..' && !inside.startsWith(`..${sep}`) && !isAbsolute(inside)) return inPrefix(prefix, `/${inside}`);
  }
  throw new PrefixEscapeError(prefix, absolute, 'is a path of the machine');
}

function realOrRefuse(prefix: string): string {
  try {
    return fs.realpathSync(prefix);
  } catch (error) {
    throw new PrefixEscapeError(prefix, prefix, `cannot be resolved (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * Where `path` (absolute, as the prefix root's own files name it) really is
 * as the image itself sees it — every symlink followed the way the image's
 * kernel would follow it when booted: an absolute target from the image's
 * root, `..` never above it — in the image's terms; or undefined when a
 * component is missing or the links loop. For comparing where two of the
 * image's paths lead (`/home/carol -> /home/bob/carol` is inside bob's
 * home): the result is never used to open anything. Reads only.
 *
 * @example
 * ```ts
 * // with /srv/root/home/carol -> /home/bob/carol
 * realPathInImage('/srv/root', '/home/carol'); // '/home/bob/carol'
 * ```
 */
export function realPathInImage(prefix: string, path: string): string | undefined {
  return resolveNameByName(path, { root: fs.realpathSync(prefix), lstat: lstatIfPresent });
}
