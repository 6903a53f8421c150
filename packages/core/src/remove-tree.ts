import * as fs from 'node:fs';
import { UnwindError } from './errors.js';
import { isTrustedOwner } from './private-directory.js';

/**
 * Options and test seam of {@link removeTreeSafely}.
 *
 * @example
 * ```ts
 * removeTreeSafely(tree, { beforeDescend: (name) => name === 'd' && swapForSymlink(name) });
 * removeTreeSafely(extra, { refuseUnsafeTransitions: true }); // in a tree users own parts of
 * ```
 */
export interface RemoveTreeHooks {
  /** Called with a directory's name just before the walk opens it to empty it (a test's chance to swap it). */
  beforeDescend?: (name: string) => void;
  /**
   * Never empty a directory whose owner differs from that of the directory
   * it is in, when that one is owned by a user other than root or the
   * running user (the transition rule of systemd-tmpfiles), `path` itself
   * included: that user could have moved someone else's directory (root's,
   * from outside the tree) into theirs, and the walk would delete what they
   * cannot. Refused with an `UnwindError` of code `UNSAFE_PATH` (its
   * `context.transition` true), leaving that directory whole; an empty one
   * is still removed, as nothing in it can be harmed.
   */
  refuseUnsafeTransitions?: boolean;
}

const DIRECTORY = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
/** A directory someone keeps filling while it is emptied: give up after this many passes (the error names it). */
const PASSES = 3;

/**
 * Removes the directory `path` and everything below it through directory
 * descriptors, never by a path below `path`. The processes of a removed user
 * may still run (in other PID namespaces) and could swap a directory inside
 * the tree for a symlink between a by-path walk's look at it and its descent
 * (fs.rmSync walks by path): the walk would then delete what the link
 * points at. Here each directory is opened with O_NOFOLLOW|O_DIRECTORY and
 * listed, unlinked and entered through `/proc/self/fd/<fd>/<name>`, which
 * the kernel resolves from the open directory itself; a swapped-in symlink
 * fails the open and is unlinked as a link. `path` itself is opened without
 * following a symlink, so its parent must be one only root controls, or
 * `path` must name its entry through an open directory
 * (`/proc/self/fd/<fd>/<name>`, as `@unwind/files` does after its safe
 * walk). Like `rm -rf`, a `path` that is missing is fine (false is
 * returned), and one that is not a directory, a symlink included, is
 * unlinked itself; true when something was removed.
 *
 * Like `rm --one-file-system`, it never goes into another filesystem: a
 * tree with anything mounted inside it (a bind mount, of the same
 * filesystem too) is refused with an `UnwindError` of code `UNSAFE_PATH`
 * before anything is removed; a mount that appears during the walk (a
 * user's FUSE mount) is refused when the walk reaches it, and left whole,
 * as is everything not yet removed. A directory still being filled after three
 * passes is refused with code `TARGET_CHANGED`. Needs /proc.
 *
 * @example
 * ```ts
 * removeTreeSafely('/home/.alice.unwind-staged'); // in a directory only root can change
 * ```
 */
export function removeTreeSafely(path: string, hooks: RemoveTreeHooks = {}): boolean {
  let fd: number;
  try {
    fd = fs.openSync(path, DIRECTORY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code !== 'ELOOP' && code !== 'ENOTDIR') throw error;
    unlinkEntry(path); // not a directory (a symlink: never followed)
    return true;
  }
  try {
    refuseMountsInside(fd, path);
    const st = fs.fstatSync(fd);
    // The parent of the directory opened, whatever `path` names by now.
    if (hooks.refuseUnsafeTransitions) refuseUnsafeTransition(fs.statSync(`/proc/self/fd/${fd}/..`).uid, st.uid, fd, path);
    emptyDirectory(fd, st.dev, path, hooks);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.rmdirSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return true;
}

function emptyDirectory(fd: number, device: number, top: string, hooks: RemoveTreeHooks): void {
  const here = `/proc/self/fd/${fd}`;
  for (let pass = 1; ; pass++) {
    const names = fs.readdirSync(here);
    if (names.length === 0) return;
    if (pass > PASSES) {
      throw new UnwindError('TARGET_CHANGED', `${fs.readlinkSync(here)} is still being filled after ${PASSES} passes of removing ${top}; stopped`, { context: { path: top }, retryable: true });
    }
    for (const name of names) removeEntry(here, name, device, top, hooks);
  }
}

function removeEntry(here: string, name: string, device: number, top: string, hooks: RemoveTreeHooks): void {
  const entry = `${here}/${name}`;
  const st = fs.lstatSync(entry, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) return unlinkEntry(entry);
  if (st.dev !== device) throw anotherFilesystem(here, name, top);
  hooks.beforeDescend?.(name);
  let child: number;
  try {
    child = fs.openSync(entry, DIRECTORY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // No longer a directory (a symlink put in its place: ELOOP): removed as the link it is, never followed.
    if (code === 'ELOOP' || code === 'ENOTDIR') return unlinkEntry(entry);
    if (code === 'ENOENT') return;
    throw error;
  }
  try {
    // The directory opened may not be the one looked at: judge the descriptor's own filesystem and owner.
    const st = fs.fstatSync(child);
    if (st.dev !== device) throw anotherFilesystem(here, name, top);
    if (hooks.refuseUnsafeTransitions) refuseUnsafeTransition(fs.statSync(here).uid, st.uid, child, top);
    emptyDirectory(child, device, top, hooks);
  } finally {
    fs.closeSync(child);
  }
  try {
    fs.rmdirSync(entry);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Swapped for a non-directory after it was emptied: rmdir does not follow it; unlink removes the link itself.
    if (code === 'ENOTDIR') return unlinkEntry(entry);
    if (code !== 'ENOENT') throw error;
  }
}

/** Throws when emptying the directory open as `fd` (owned by `owner`) from one owned by `above` is an unsafe transition. */
function refuseUnsafeTransition(above: number, owner: number, fd: number, top: string): void {
  if (isTrustedOwner(above) || owner === above) return;
  const directory = fs.readlinkSync(`/proc/self/fd/${fd}`);
  if (fs.readdirSync(`/proc/self/fd/${fd}`).length === 0) return;
  throw new UnwindError(
    'UNSAFE_PATH',
    `${directory} (owned by uid ${owner}) is in a directory owned by uid ${above}: an unsafe path transition (that user could have moved it there); it was not emptied, removing ${top} stopped`,
    { context: { path: top, directory, owner, above, transition: true }, retryable: false },
  );
}

function unlinkEntry(entry: string): void {
  try {
    fs.unlinkSync(entry);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Refuses, before anything is removed, a tree with a mount point inside it.
 * A bind mount of the same filesystem has the same device number as the
 * tree, so the walk's device check would go into it and empty whatever is
 * mounted there (another user's data, a shared directory). Only root makes
 * such a mount, so one listing at the start sees every one that matters;
 * a user's FUSE mount made during the walk is another filesystem, which
 * the device check refuses.
 */
function refuseMountsInside(fd: number, top: string): void {
  const [mountPoint] = mountPointsAt(fs.readlinkSync(`/proc/self/fd/${fd}`), { itself: false });
  if (mountPoint !== undefined) {
    throw new UnwindError('UNSAFE_PATH', `${mountPoint} is a filesystem mounted inside ${top}; nothing removed`, { context: { path: top, mountPoint }, retryable: false });
  }
}

/**
 * The mount points at or below the real path `path`, as this process sees
 * them (`/proc/self/mountinfo`), `path` itself first when it is one (left
 * out with `itself: false`). A bind mount of the same filesystem has the
 * device number of what it is mounted in: only this list finds it.
 *
 * @example
 * ```ts
 * mountPointsAt('/home/bob'); // ['/home/bob/shared'] when something is mounted there
 * ```
 */
export function mountPointsAt(path: string, options: { itself?: boolean } = {}): string[] {
  const prefix = path === '/' ? '/' : `${path}/`;
  const found: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // Field 5 is the mount point, as this process sees it, with space, tab, newline and backslash octal-escaped.
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const mountPoint = field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    if (mountPoint === path ? options.itself !== false : mountPoint.startsWith(prefix)) found.push(mountPoint);
  }
  return found.sort((a, b) => a.length - b.length);
}

function anotherFilesystem(here: string, name: string, top: string): UnwindError {
  const mountPoint = `${fs.readlinkSync(here)}/${name}`;
  return new UnwindError('UNSAFE_PATH', `${mountPoint} is another filesystem mounted inside ${top}; not removed`, { context: { path: top, mountPoint }, retryable: false });
}
