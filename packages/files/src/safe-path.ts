import { isTrustedOwner, O_PATH } from '@unwind/core';
import * as fs from 'node:fs';
import { resolve } from 'node:path';
import { NoProcError, SymlinkRefusedError, UnexpectedFileTypeError, UnsafePathError } from './errors.js';

/**
 * Opening a directory by its path the way a careful root tool must: one
 * component at a time from `/`, each opened with O_PATH|O_DIRECTORY|O_NOFOLLOW
 * through the previous one (`/proc/self/fd/<fd>/<name>`), so the kernel never
 * follows a symlink on the way by itself. A symlink is followed by this code,
 * and only when nobody but root or the running user could have put it there:
 *
 * - the link itself is owned by root or the running user, and
 * - the directory holding it is owned by root or the running user and not
 *   writable by group or others, unless it has the sticky bit (then only the
 *   link's owner, the directory's owner or root can replace the link).
 *
 * And every step from one directory to the next (into a child, up through
 * `..`, or to where a link points) must be a safe transition, the rule
 * systemd-tmpfiles applies ("unsafe path transition"): out of a directory
 * owned by root or the running user anything goes; out of one owned by
 * another user only into a directory of that same user. Otherwise that user
 * could have moved a directory of someone else's (root's) into their own and
 * made unwind write where root's name, not theirs, is on the door.
 *
 * A path through one of unwind's own open directories
 * (`/proc/self/fd/<fd>/...`) starts from that directory, which was itself
 * reached this way and checked against what prepare recorded; below it the
 * symlink rules apply, the transition rule does not (a directory unwind
 * made in a location another user owns is still reached to be removed).
 *
 * So `/var/run -> /run` (a root link in root's `/var`) is followed, while a
 * link a user planted in their home, in `/tmp`, or anywhere above the
 * directory a step changes is refused with {@link UnsafePathError}. The
 * kernel's `fs.protected_symlinks` does not help here: the walk reads links
 * itself, so it applies the stricter rule above itself.
 */

/** Links followed before giving up, as the kernel does (ELOOP). */
const MAX_LINKS = 40;
const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

function openPath(path: string): number {
  return fs.openSync(path, O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
}

/**
 * Opens the directory at `path` (absolute) as described above and returns a
 * descriptor opened O_RDONLY|O_DIRECTORY, or with `pathOnly` the O_PATH
 * descriptor the walk ended on (enough to reach entries through
 * `/proc/self/fd/<fd>/<name>` and to `fstat` it; not to list or sync it),
 * which saves reopening it. Its last component must be a directory itself —
 * a symlink there is {@link SymlinkRefusedError} — unless `follow` is set,
 * when a last-component link is followed by the same rules. A missing
 * component or a non-directory is {@link UnexpectedFileTypeError}. Without
 * `/proc` nothing can be looked at: {@link NoProcError}, never a missing
 * component.
 *
 * @example
 * ```ts
 * const fd = openDirectorySafely('/var/run/app', { what: 'the directory of the file' }); // follows root's /var/run -> /run
 * ```
 */
export function openDirectorySafely(path: string, options: { what: string; follow?: boolean; pathOnly?: boolean }): number {
  const shown = resolve(path);
  if (!procSeen) {
    if (!procMounted()) throw new NoProcError(shown);
    procSeen = true;
  }
  try {
    return openThroughTrustedDirectories(shown, options) ?? walk(shown, options);
  } catch (error) {
    // Every step below `/` goes through /proc/self/fd: with /proc unmounted since it was seen, each
    // one looks missing. Never let that read as a missing directory (a caller takes that for "absent").
    if (!procMounted()) throw new NoProcError(shown);
    throw error;
  }
}

/**
 * The walk's result without the walk, when nobody but root or the running
 * user can change a directory on the way: `/` and every directory below it
 * down to the last one's parent is a real directory (no symlink), owned by
 * root or the running user, and writable by nobody else. Checked from the
 * top, each such directory's entries stay as they were seen unless root or
 * the running user changes them, so the kernel's lookup of the path can
 * only reach what the walk would (the walk follows their changes too: a
 * link of theirs is followed). The last component is opened with
 * O_NOFOLLOW: a symlink there, a writable directory above it (`/tmp`),
 * another owner, anything missing or not a directory returns undefined,
 * and the walk decides (and words the refusal). It costs one `lstat` per
 * directory instead of an open, an `fstat` and a close through
 * `/proc/self/fd` each.
 */
function openThroughTrustedDirectories(shown: string, options: { pathOnly?: boolean }): number | undefined {
  if (shown.startsWith('/proc/self/fd/')) return undefined;
  let fd: number;
  try {
    let above = '/';
    for (const name of shown.split('/').filter((part) => part !== '')) {
      const st = fs.lstatSync(above, { throwIfNoEntry: false });
      if (!st || !st.isDirectory() || !isTrustedOwner(st.uid) || st.mode & GROUP_OR_OTHER_WRITE) return undefined;
      above = above === '/' ? `/${name}` : `${above}/${name}`;
    }
    fd = openPath(shown);
  } catch {
    return undefined; // the walk meets the same error, and words it
  }
  if (options.pathOnly) return fd;
  try {
    return fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } finally {
    fs.closeSync(fd);
  }
}

/** Set once /proc was seen mounted: checked again only when a walk fails. */
let procSeen = false;

function procMounted(): boolean {
  return fs.existsSync('/proc/self/fd');
}

/** The walk of {@link openDirectorySafely}, from `/` (or one of our open directories) to `shown`. */
function walk(shown: string, options: { what: string; follow?: boolean; pathOnly?: boolean }): number {
  // A path through one of our own open directories (`DirectoryHandle.entry`) starts from that
  // directory: the kernel follows the descriptor's magic link, never a name.
  const own = /^\/proc\/self\/fd\/(\d+)(\/.*)?$/.exec(shown);
  let fd = own ? fs.openSync(`/proc/self/fd/${own[1]}`, O_PATH | fs.constants.O_DIRECTORY) : openPath('/');
  let here = fs.fstatSync(fd);
  let where = own ? `/proc/self/fd/${own[1]}` : '/';
  const todo = (own ? (own[2] ?? '') : shown).split('/').filter((part) => part !== '' && part !== '.');
  let links = 0;
  let handedOut = false;
  // Moves the walk into `next` (closed on a refusal), judged on the fstat of that very descriptor.
  const step = (next: number, name: string) => {
    let st: fs.Stats;
    try {
      st = fs.fstatSync(next);
    } catch (error) {
      fs.closeSync(next);
      throw error;
    }
    if (!own && !isTrustedOwner(here.uid) && st.uid !== here.uid) {
      fs.closeSync(next);
      throw new UnsafePathError(shown, name, `leads from ${where} (owned by uid ${here.uid}) into a directory owned by uid ${st.uid}: an unsafe path transition`);
    }
    fs.closeSync(fd);
    fd = next;
    here = st;
  };
  try {
    while (todo.length > 0) {
      const name = todo.shift()!;
      const entry = `/proc/self/fd/${fd}/${name}`;
      const shownEntry = where === '/' ? `/${name}` : `${where}/${name}`;
      if (name === '..') {
        step(openPath(entry), shownEntry);
        where = where === '/' ? '/' : where.slice(0, where.lastIndexOf('/')) || '/';
        continue;
      }
      // The common case, a directory, costs one open and its fstat (no lstat first). O_DIRECTORY
      // makes an automount point on the way mount first, as the kernel's own walk does.
      const next = openDirectoryEntry(entry);
      if (next === undefined) throw new UnexpectedFileTypeError(`${options.what} ${shown} is gone (${shownEntry} does not exist)`, { path: shown, missing: shownEntry });
      if (next === NOT_A_DIRECTORY) {
        // Something else is there: a symlink, to follow by the rules above, or a refusal.
        const st = fs.lstatSync(entry, { throwIfNoEntry: false });
        if (!st) throw new UnsafePathError(shown, shownEntry, 'changed while it was opened (it is gone)');
        if (st.isDirectory()) throw new UnsafePathError(shown, shownEntry, 'changed while it was opened (it is a directory now)');
        if (!st.isSymbolicLink()) throw new UnexpectedFileTypeError(`${options.what} ${shown} is not a directory (${shownEntry} is not)`, { path: shown, component: shownEntry });
        const target = fs.readlinkSync(entry);
        if (todo.length === 0 && !options.follow) throw new SymlinkRefusedError(shown, target);
        if (!isTrustedOwner(st.uid)) throw new UnsafePathError(shown, shownEntry, `is a symlink owned by uid ${st.uid} (-> ${target}); refusing to follow it`);
        if (!isTrustedOwner(here.uid) || (here.mode & GROUP_OR_OTHER_WRITE && !(here.mode & STICKY))) {
          throw new UnsafePathError(shown, shownEntry, `is a symlink (-> ${target}) in ${where}, which others can change (owner uid ${here.uid}, mode ${(here.mode & 0o7777).toString(8)}); refusing to follow it`);
        }
        if (++links > MAX_LINKS) throw new UnsafePathError(shown, shownEntry, `is a symlink after ${MAX_LINKS} others (a loop?)`);
        if (target.startsWith('/')) {
          step(openPath('/'), '/');
          where = '/';
        }
        todo.unshift(...target.split('/').filter((part) => part !== '' && part !== '.'));
        continue;
      }
      step(next, shownEntry);
      where = shownEntry;
    }
    if (options.pathOnly) {
      handedOut = true;
      return fd;
    }
    return fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } finally {
    if (!handedOut) fs.closeSync(fd);
  }
}

/** What {@link openDirectoryEntry} returns when the entry is there but is no directory (a symlink among others). */
const NOT_A_DIRECTORY = -1;

/**
 * An O_PATH descriptor of the directory `entry` names, never following a
 * symlink; undefined when nothing is there; {@link NOT_A_DIRECTORY} when
 * something else is (for the caller to look at: nothing of it is opened).
 */
function openDirectoryEntry(entry: string): number | undefined {
  try {
    return openPath(entry);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // A symlink is ELOOP or ENOTDIR (O_NOFOLLOW with O_DIRECTORY), anything else ENOTDIR.
    if (code === 'ENOTDIR' || code === 'ELOOP') return NOT_A_DIRECTORY;
    throw error;
  }
}
