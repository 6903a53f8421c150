import * as fs from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { assertPrivateDirectory, isWithin, UnsafeDirectoryError } from '@unwind/core';
import { UnsafeHomeError } from './errors.js';
import { diskPath, readLines, type UserEntry } from './db.js';
import { HomeLocations } from './home-locations.js';
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
  if (!isWithin(clean, base) || clean === base) throw new UnsafeHomeError(name, home, `is not a proper subdirectory of the home base ${base}`);
}

/**
 * The directory a home lies in must be root's alone (the running user's:
 * root, for the steps that change accounts): owned by it and writable by
 * nobody else — sticky or not, since the home is staged there — with every
 * directory above it, from `/` along its real path, passing core's
 * ancestor rule ({@link assertPrivateDirectory}). Else whoever can write
 * there (alice, for bob's home /home/alice/bob) could swap the home or its
 * staging directory between the checks and the rename. `realParent` is the
 * parent's real path on disk. Throws UnsafeHomeError; reads only.
 */
function checkHomeParent(name: string, home: string, realParent: string): void {
  try {
    assertPrivateDirectory(realParent, 'directory holding a home');
  } catch (error) {
    if (!(error instanceof UnsafeDirectoryError)) throw error;
    throw new UnsafeHomeError(name, home, `lies in ${realParent}, which ${String(error.context.reason)}: a home is moved aside or deleted only in a directory no one but root can change`);
  }
}

/**
 * The rule of {@link checkHomeParent} for a home a step is about to create,
 * when the directory it goes in already exists: refused at prepare, rather
 * than created where its undo could not remove it. Throws UnsafeHomeError;
 * reads only.
 *
 * @example
 * ```ts
 * checkNewHomeParent('bob', '/home/alice/bob', undefined);
 * // UnsafeHomeError: home /home/alice/bob of "bob" lies in /home/alice, which is owned by uid 1000, not by the running user (uid 0): ...
 * ```
 */
export function checkNewHomeParent(name: string, home: string, prefix: string | undefined): void {
  let realParent: string;
  try {
    realParent = fs.realpathSync(dirname(diskPath(prefix, home)));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return; // useradd makes no missing parent: it fails instead
    throw error;
  }
  checkHomeParent(name, home, realParent);
}

/**
 * Everything that must hold before a home is moved aside or deleted: the
 * path checks, no other account has it (or a directory below it) as home —
 * compared as written and by where each home really leads, so a home that
 * is a symlink into this one counts — it is a real directory (not a
 * symlink) owned by `uid`, its real location (parents resolved) is still
 * under the real home base, and the directory it lies in is root's alone
 * ({@link checkHomeParent}). Throws UnsafeHomeError; reads only.
 */
export function checkRemovableHome(user: Pick<UserEntry, 'name' | 'home'>, uid: number, others: UserEntry[], args: { prefix?: string | undefined; homeBase?: string | undefined }): string {
  const base = homeBase(args);
  checkHomePath(user.name, user.home, base);
  const home = normalize(user.home).replace(/(.)\/+$/, '$1');
  const otherHomes = others.filter((other) => other.name !== user.name && other.home.startsWith('/'));
  for (const other of otherHomes) {
    const theirs = normalize(other.home).replace(/(.)\/+$/, '$1');
    if (theirs === home) throw new UnsafeHomeError(user.name, user.home, `is also the home of "${other.name}"`);
    if (isWithin(theirs, home)) throw new UnsafeHomeError(user.name, user.home, `contains the home of "${other.name}" (${other.home})`);
  }
  const path = diskPath(args.prefix, home);
  const st = fs.lstatSync(path);
  if (st.isSymbolicLink()) throw new UnsafeHomeError(user.name, user.home, 'is a symbolic link');
  if (!st.isDirectory()) throw new UnsafeHomeError(user.name, user.home, 'is not a directory');
  if (st.uid !== uid) throw new UnsafeHomeError(user.name, user.home, `is owned by uid ${st.uid}, not by the user (uid ${uid})`);
  const realBase = fs.realpathSync(diskPath(args.prefix, base));
  const realParent = fs.realpathSync(dirname(path));
  if (!isWithin(join(realParent, 'x'), realBase)) {
    throw new UnsafeHomeError(user.name, user.home, `resolves to ${join(realParent, home.slice(home.lastIndexOf('/') + 1))}, outside the home base ${realBase}`);
  }
  checkHomeParent(user.name, user.home, realParent);
  // Where the other homes really lead: carol's /home/carol -> /home/bob/carol lies inside bob's home.
  const locations = new HomeLocations(args.prefix);
  const mine = locations.of(home);
  for (const other of otherHomes) {
    for (const theirs of locations.of(normalize(other.home).replace(/(.)\/+$/, '$1'))) {
      const inside = mine.find((m) => isWithin(theirs, m));
      if (inside === undefined) continue;
      const how = theirs === inside ? 'is also' : 'contains';
      throw new UnsafeHomeError(user.name, user.home, `${how} the real home of "${other.name}" (${other.home} leads to ${theirs})`);
    }
  }
  return path;
}
