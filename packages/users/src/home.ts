import * as fs from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { UnsafeHomeError } from './errors.js';
import { diskPath, readLines, type UserEntry } from './db.js';
import { inPrefix } from './prefix.js';

/**
 * Where homes may be removed: a proper subdirectory of the home base. The
 * base is the step's `homeBase`, else HOME= of PREFIX/etc/default/useradd
 * (what useradd itself puts new homes under), else /home.
 *
 * @example
 * ```ts
 * homeBase({ prefix: '/srv/root' }); // '/home'
 * ```
 */
export function homeBase(args: { prefix?: string | undefined; homeBase?: string | undefined }): string {
  if (args.homeBase !== undefined) return args.homeBase;
  for (const line of readLines(args.prefix ? inPrefix(args.prefix, '/etc/default/useradd') : '/etc/default/useradd')) {
    const m = /^\s*HOME=(\S+)\s*$/.exec(line);
    if (m && m[1]!.startsWith('/') && normalize(m[1]!) === m[1]!.replace(/\/+$/, '')) return normalize(m[1]!).replace(/(.)\/+$/, '$1');
  }
  return '/home';
}

/** Whether `inner` is `outer` itself or below it (both normalised absolute paths). */
function within(inner: string, outer: string): boolean {
  const r = relative(outer, inner);
  return r === '' || (!r.startsWith('..') && !r.startsWith(sep));
}

/**
 * The checks on a home path alone (no disk access): absolute, no `..` or
 * `.` segment, not `/`, a proper subdirectory of the home base. Throws
 * UnsafeHomeError. Used in validate, prepare, do, undo, commit and on
 * journaled values.
 */
export function checkHomePath(name: string, home: string, base: string): void {
  if (!home.startsWith('/')) throw new UnsafeHomeError(name, home, 'is not an absolute path');
  if (home.split('/').some((part) => part === '..' || part === '.')) throw new UnsafeHomeError(name, home, 'contains a ".." or "." segment');
  if (normalize(home) !== home.replace(/(.)\/+$/, '$1')) throw new UnsafeHomeError(name, home, 'is not a normalised path');
  const clean = normalize(home).replace(/(.)\/+$/, '$1');
  if (clean === '/') throw new UnsafeHomeError(name, home, 'is the root directory');
  if (!within(clean, base) || clean === base) throw new UnsafeHomeError(name, home, `is not a proper subdirectory of the home base ${base}`);
}

/**
 * Everything that must hold before a home is moved aside or deleted: the
 * path checks, no other account has it (or a directory below it) as home,
 * it is a real directory (not a symlink) owned by `uid`, and its real
 * location (parents resolved) is still under the real home base. Throws
 * UnsafeHomeError; reads only.
 */
export function checkRemovableHome(user: Pick<UserEntry, 'name' | 'home'>, uid: number, others: UserEntry[], args: { prefix?: string | undefined; homeBase?: string | undefined }): string {
  const base = homeBase(args);
  checkHomePath(user.name, user.home, base);
  const home = normalize(user.home).replace(/(.)\/+$/, '$1');
  for (const other of others) {
    if (other.name === user.name || !other.home.startsWith('/')) continue;
    const theirs = normalize(other.home).replace(/(.)\/+$/, '$1');
    if (theirs === home) throw new UnsafeHomeError(user.name, user.home, `is also the home of "${other.name}"`);
    if (within(theirs, home)) throw new UnsafeHomeError(user.name, user.home, `contains the home of "${other.name}" (${other.home})`);
  }
  const path = diskPath(args.prefix, home);
  const st = fs.lstatSync(path);
  if (st.isSymbolicLink()) throw new UnsafeHomeError(user.name, user.home, 'is a symbolic link');
  if (!st.isDirectory()) throw new UnsafeHomeError(user.name, user.home, 'is not a directory');
  if (st.uid !== uid) throw new UnsafeHomeError(user.name, user.home, `is owned by uid ${st.uid}, not by the user (uid ${uid})`);
  const realBase = fs.realpathSync(diskPath(args.prefix, base));
  const realParent = fs.realpathSync(dirname(path));
  if (!within(join(realParent, 'x'), realBase)) {
    throw new UnsafeHomeError(user.name, user.home, `resolves to ${join(realParent, home.slice(home.lastIndexOf('/') + 1))}, outside the home base ${realBase}`);
  }
  return path;
}
