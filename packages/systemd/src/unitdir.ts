import * as fs from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import * as t from 'io-ts';
import { syncDirectory, runningUid } from '@unwind/core';
import { openDirectorySafely, UnexpectedFileTypeError, UnsafePathError } from '@unwind/files';

/**
 * Which directories existed before a step that makes systemd write into the
 * unit directory (enable creates `default.target.wants/`, mask may create
 * the directory itself), so undo can remove the empty ones it caused.
 */
export const DirSnapshot = t.type({
  /** The unit directory and its missing parents, deepest first; empty when it existed. */
  missing: t.array(t.string),
  /** Subdirectories of the unit directory that existed. */
  subdirs: t.array(t.string),
});
/** See {@link DirSnapshot}. */
export type DirSnapshot = t.TypeOf<typeof DirSnapshot>;

/**
 * A directory of (or above) the unit directory, as every function here
 * reaches what is in it. Guarded (a user's unit directory while unwind runs
 * as root), it is an open descriptor reached by @unwind/files'
 * `openDirectorySafely`, and names resolve through `/proc/self/fd/<fd>/`:
 * the user owns every directory from the home down and could otherwise swap
 * one for a symlink between any check and any use, making root write, chmod,
 * chown or remove where the link points. Unguarded (the system unit
 * directory, or a user's own directory reached as that user), it is the
 * path: nobody but the one acting can change the way there.
 *
 * @example
 * ```ts
 * const dir = openUnitDirectory('/home/alice/.config/systemd/user', true);
 * if (dir) try { fs.readdirSync(dir.self); } finally { dir.close(); }
 * ```
 */
export interface UnitDirHandle {
  /** The path it stands for: in messages and journal records only, never to reach anything when guarded. */
  readonly path: string;
  /** The descriptor, when guarded. */
  readonly fd?: number;
  /** The directory itself (`/proc/self/fd/<fd>` when guarded), for a listing or a directory sync. */
  readonly self: string;
  /** A name in it (`/proc/self/fd/<fd>/<name>` when guarded). */
  entry(name: string): string;
  close(): void;
}

const OPEN_DIRECTORY_NOFOLLOW = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

function byPath(path: string): UnitDirHandle {
  return { path, self: path, entry: (name) => join(path, name), close: () => {} };
}

function byDescriptor(path: string, fd: number): UnitDirHandle {
  const self = `/proc/self/fd/${fd}`;
  return { path, fd, self, entry: (name) => `${self}/${name}`, close: () => fs.closeSync(fd) };
}

/**
 * Opens the directory `path`; undefined when it or a directory above it is
 * missing. Guarded, the way there is walked by `openDirectorySafely`: a
 * symlink the user could have put on the way (their own, or any in a
 * directory of theirs), a directory of someone else's inside theirs, or a
 * non-directory is refused (UnsafePathError, UnexpectedFileTypeError)
 * before anything is touched; below the home (`.config`, `systemd`,
 * `user`) every component is opened O_NOFOLLOW, so any symlink there is
 * refused.
 *
 * @example
 * ```ts
 * const dir = openUnitDirectory(unitDir, guardsUnitDir(args));
 * ```
 */
export function openUnitDirectory(path: string, guarded: boolean): UnitDirHandle | undefined {
  if (!guarded) return fs.existsSync(path) ? byPath(path) : undefined;
  // From the home down nothing is the system's: no symlink at all is followed there, not even one of
  // root's (what root's own tools left in a home is no reason to write elsewhere as root).
  const match = /^(.+)\/(\.config(?:\/systemd(?:\/user)?)?)$/.exec(path);
  const inHome = match ? { home: match[1]!, below: match[2]!.split('/') } : undefined;
  let dir: UnitDirHandle;
  try {
    // follow: a link of root's in a directory only root can change (/home -> /usr/home) is as safe as a directory.
    const top = inHome ? inHome.home : path;
    dir = byDescriptor(top, openDirectorySafely(top, { what: 'the unit directory', follow: true }));
  } catch (error) {
    if (error instanceof UnexpectedFileTypeError && error.context.missing !== undefined) return undefined;
    throw error;
  }
  for (const name of inHome?.below ?? []) {
    let child: UnitDirHandle | undefined;
    try {
      child = openChild(dir, name, true);
    } finally {
      dir.close();
    }
    if (!child) return undefined;
    dir = child;
  }
  return dir;
}

/** {@link openUnitDirectory} around `fn`, closing it after. `fn` gets undefined when the directory is missing. */
export function inUnitDirectory<T>(path: string, guarded: boolean, fn: (dir: UnitDirHandle | undefined) => T): T {
  const dir = openUnitDirectory(path, guarded);
  try {
    return fn(dir);
  } finally {
    dir?.close();
  }
}

/**
 * The subdirectory `name` of an open directory; undefined when nothing is
 * there. Guarded, it is opened O_NOFOLLOW through the parent's descriptor,
 * and refused when it is a symlink or not a directory, or when it belongs to
 * someone else than the owner of a parent that is not root's (the transition
 * rule of docs/security.md §3: a user could have moved it in from elsewhere).
 */
function openChild(parent: UnitDirHandle, name: string, guarded: boolean, madeHere = false): UnitDirHandle | undefined {
  const shown = join(parent.path, name);
  if (!guarded || parent.fd === undefined) return fs.existsSync(shown) ? byPath(shown) : undefined;
  let fd: number;
  try {
    fd = fs.openSync(parent.entry(name), OPEN_DIRECTORY_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new UnsafePathError(shown, shown, 'is a symlink or not a directory; refusing to follow it or write there');
    throw error;
  }
  // What this process just made is root's until it is handed over: makeChild checks that itself.
  if (!madeHere) {
    const above = fs.fstatSync(parent.fd);
    const here = fs.fstatSync(fd);
    if (above.uid !== 0 && above.uid !== runningUid() && here.uid !== above.uid) {
      fs.closeSync(fd);
      throw new UnsafePathError(shown, shown, `leads from a directory of uid ${above.uid} into one of uid ${here.uid}: an unsafe path transition`);
    }
  }
  return byDescriptor(shown, fd);
}

/**
 * Makes the directory `name` in `parent` (mode 0755, owned by `owner` when
 * given), or opens it when it is there already, and returns it open.
 * Guarded, mode and owner are set on the descriptor of what was opened
 * O_NOFOLLOW after the mkdir, and only if that is a directory this process
 * owns and that is empty — what the mkdir made: a user who swapped the new
 * directory for a symlink (to /etc/shadow) or one of their own in between
 * gets a refusal, never a chmod or chown of something else.
 */
function makeChild(parent: UnitDirHandle, name: string, owner: { uid: number; gid: number } | undefined, guarded: boolean): UnitDirHandle {
  const shown = join(parent.path, name);
  try {
    fs.mkdirSync(parent.entry(name), { mode: 0o755 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const existing = openChild(parent, name, guarded);
    if (!existing) throw new UnexpectedFileTypeError(`the unit directory ${shown} was removed while it was created`, { path: shown, missing: shown });
    return existing;
  }
  const child = openChild(parent, name, guarded, true);
  if (!child) throw new UnexpectedFileTypeError(`the unit directory ${shown} was removed right after it was created`, { path: shown, missing: shown });
  try {
    if (child.fd === undefined) {
      fs.chmodSync(shown, 0o755);
      if (owner) fs.chownSync(shown, owner.uid, owner.gid);
    } else {
      const st = fs.fstatSync(child.fd);
      if (st.uid !== runningUid() || fs.readdirSync(child.self).length > 0) {
        throw new UnsafePathError(shown, shown, `was replaced right after it was made (now owned by uid ${st.uid}); its mode and owner were left alone`);
      }
      fs.fchmodSync(child.fd, 0o755);
      if (owner) fs.fchownSync(child.fd, owner.uid, owner.gid);
    }
    syncDirectory(parent.self);
  } catch (error) {
    child.close();
    throw error;
  }
  return child;
}

/**
 * Records which of `unitDir`, its parents and its subdirectories exist.
 * Read-only; guarded, a symlink or a foreign directory on the way is refused
 * here, at prepare, before anything is changed.
 *
 * @example
 * ```ts
 * const dirs = snapshotDirs('/home/alice/.config/systemd/user', true);
 * ```
 */
export function snapshotDirs(unitDir: string, guarded: boolean): DirSnapshot {
  const missing: string[] = [];
  let dir = unitDir;
  let top = openUnitDirectory(dir, guarded);
  while (!top && dir !== dirname(dir)) {
    missing.push(dir);
    dir = dirname(dir);
    top = openUnitDirectory(dir, guarded);
  }
  try {
    const subdirs = missing.length > 0 || !top ? [] : fs.readdirSync(top.self, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    return { missing, subdirs };
  } finally {
    top?.close();
  }
}

/**
 * Removes directories that did not exist in `snapshot` and are empty now:
 * new subdirectories of `unitDir`, then `unitDir` and the parents that were
 * missing. A directory something else filled is left alone.
 *
 * @example
 * ```ts
 * removeNewEmptyDirs(before.unitDir, before.dirs, guardsUnitDir(a));
 * ```
 */
export function removeNewEmptyDirs(unitDir: string, snapshot: DirSnapshot, guarded: boolean): void {
  inUnitDirectory(unitDir, guarded, (dir) => {
    if (!dir) return;
    let removed = false;
    for (const entry of fs.readdirSync(dir.self, { withFileTypes: true })) {
      if (entry.isDirectory() && !snapshot.subdirs.includes(entry.name)) removed = rmdirIfEmpty(dir.entry(entry.name)) || removed;
    }
    if (removed) syncDirectory(dir.self);
  });
  removeMissingDirs(snapshot.missing, guarded);
}

function rmdirIfEmpty(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Creates what is missing of `unitDir` — `missing` names the unit directory
 * and its parents that were missing, the shallowest last — one level at a
 * time in the open parent (mode 0755, owned by `owner` when given, each
 * parent synced), and returns the unit directory open; the caller closes it.
 *
 * @example
 * ```ts
 * const dir = createMissingDirs(unitDir, before.missing, before.owner, guardsUnitDir(a));
 * try { writeFileAtomically(dir.entry(a.unit), a.content, { mode: 0o644 }); } finally { dir.close(); }
 * ```
 */
export function createMissingDirs(unitDir: string, missing: readonly string[], owner: { uid: number; gid: number } | undefined, guarded: boolean): UnitDirHandle {
  const shallowest = missing.at(-1);
  const start = shallowest === undefined ? unitDir : dirname(shallowest);
  let dir = openUnitDirectory(start, guarded);
  if (!dir) throw new UnexpectedFileTypeError(`the unit directory ${start} is gone since prepare`, { path: start, missing: start });
  try {
    for (const name of relative(start, unitDir).split('/').filter((part) => part !== '')) {
      const child = makeChild(dir, name, owner, guarded);
      dir.close();
      dir = child;
    }
  } catch (error) {
    dir.close();
    throw error;
  }
  return dir;
}

/**
 * Removes `missing` directories (deepest first) that are empty, each
 * through its open parent; stops at the first that is not.
 *
 * @example
 * ```ts
 * removeMissingDirs(before.missing, guardsUnitDir(a));
 * ```
 */
export function removeMissingDirs(missing: readonly string[], guarded: boolean): void {
  for (const path of missing) {
    const stop = inUnitDirectory(dirname(path), guarded, (parent) => {
      if (!parent) return false; // its parent is gone, so is it
      const name = basename(path);
      if (rmdirIfEmpty(parent.entry(name))) {
        syncDirectory(parent.self);
        return false;
      }
      return fs.existsSync(parent.entry(name));
    });
    if (stop) break;
  }
}

/**
 * The subdirectory `name` of an open unit directory, for a listing; undefined
 * when it is missing, or no directory (a link, a file, something a user put
 * there in between: a listing has nothing to find in it).
 *
 * @example
 * ```ts
 * const wants = openSubdirectory(dir, 'default.target.wants', true);
 * ```
 */
export function openSubdirectory(parent: UnitDirHandle, name: string, guarded: boolean): UnitDirHandle | undefined {
  try {
    return openChild(parent, name, guarded);
  } catch (error) {
    if (error instanceof UnsafePathError) return undefined;
    throw error;
  }
}
