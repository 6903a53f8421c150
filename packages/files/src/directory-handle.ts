import * as fs from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import * as t from 'io-ts';
import { UndoConflictError, UnwindError } from '@unwind/core';
import { NoProcError, TargetChangedError, UnexpectedFileTypeError } from './errors.js';
import { openDirectorySafely } from './safe-path.js';

/**
 * The one way the files kinds reach what they change: through an opened,
 * verified directory. Node has no `openat`, so a directory is opened once
 * (component by component from `/`, see safe-path.ts) and every later call goes
 * through `/proc/self/fd/<fd>/<name>`: the kernel resolves that from the
 * open directory itself, so a parent swapped for a symlink after the open
 * cannot redirect the write, chmod, rename or unlink. The open directory is
 * compared (device and inode) with what `prepare` recorded, so a swap
 * between prepare and do is refused before anything is touched.
 */

/**
 * Device and inode of a file or directory (decimal strings: bigint-safe in
 * JSON), recorded at prepare and compared at do and undo.
 *
 * @example
 * ```ts
 * const parent: Identity = { dev: '2049', ino: '131' };
 * ```
 */
export const Identity = t.type({ dev: t.string, ino: t.string });
/**
 * A recorded device and inode.
 *
 * @example
 * ```ts
 * const parent: Identity = identityOf('/etc')!;
 * ```
 */
export type Identity = t.TypeOf<typeof Identity>;

/**
 * Device and inode of what is at `path` (never following a symlink at its
 * last component), or undefined when nothing is there. Its directory is
 * reached by {@link openDirectorySafely}: a symlink above it that someone
 * else controls is an {@link UnsafePathError}, not followed.
 */
export function identityOf(path: string): Identity | undefined {
  const st = lstatSafely(path);
  return st ? identityOfStats(st) : undefined;
}

/**
 * `lstat` of `path`, its directory reached by {@link openDirectorySafely}
 * (a symlink at the directory's own name is followed by the same rules);
 * undefined when nothing is there, or when its directory is missing.
 */
export function lstatSafely(path: string): fs.BigIntStats | undefined {
  const absolute = resolve(path);
  if (absolute === '/') return fs.lstatSync('/', { bigint: true });
  let fd: number;
  try {
    fd = openDirectorySafely(dirname(absolute), { what: 'the directory of', follow: true, pathOnly: true });
  } catch (error) {
    if (error instanceof UnexpectedFileTypeError) return undefined;
    throw error;
  }
  try {
    return fs.lstatSync(`/proc/self/fd/${fd}/${basename(absolute)}`, { bigint: true, throwIfNoEntry: false });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Device and inode of the directory at `path`, reached by
 * {@link openDirectorySafely} (`follow`: a symlink at its own name is
 * followed by the same rules), for a prepare to record.
 */
export function directoryIdentity(path: string, options: { what: string; follow?: boolean }): Identity {
  const fd = openDirectorySafely(path, { ...options, pathOnly: true });
  try {
    return identityOfDescriptor(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** `{ entry: identity }` of what is at `path`, or `{}` when nothing is there: the shape a before-state spreads in. */
export function optionalIdentity(path: string): { entry?: Identity } {
  const entry = identityOf(path);
  return entry ? { entry } : {};
}

/** Device and inode of an open descriptor. */
export function identityOfDescriptor(fd: number): Identity {
  return identityOfStats(fs.fstatSync(fd, { bigint: true }));
}

/** Device and inode from bigint stats already taken (exact: a number would round a large inode). */
export function identityOfStats(st: fs.BigIntStats): Identity {
  return { dev: st.dev.toString(), ino: st.ino.toString() };
}

/**
 * Which recorded identity a check needs. `do` runs in the process that
 * prepared, so device and inode must both match; an undo may run after a
 * reboot, which can renumber devices, so it compares the inode.
 */
export type Phase = 'do' | 'undo';

/** An open directory; `entry(name)` names something in it through the descriptor. */
export interface DirectoryHandle {
  /** The path it was opened by (for messages only: never used to reach anything). */
  readonly path: string;
  readonly fd: number;
  /** `/proc/self/fd/<fd>/<name>`: a path that resolves from this open directory, whatever happens to `path`. */
  entry(name: string): string;
  /** The same for another process (a validate command): `/proc/<our pid>/fd/<fd>/<name>`. */
  entryForChild(name: string): string;
  /** This directory itself, through the descriptor (for a directory sync). */
  readonly self: string;
}

/**
 * Opens the directory `path` one component at a time from `/`
 * ({@link openDirectorySafely}: a symlink at its own name is refused; a
 * symlinked ancestor is followed only when root or the running user made it
 * and nobody else can replace it, like `/var/run`; an unsafe path transition
 * is refused) and, with `expected`, refuses any other
 * directory than the one recorded: at `do` a {@link TargetChangedError},
 * at `undo` an {@link UndoConflictError}. Runs `fn` with it and closes it.
 *
 * @example
 * ```ts
 * await inDirectory(dirname(path), { expected: before.parent, phase: 'do', what: 'the directory of the file' }, (dir) =>
 *   fs.writeFileSync(dir.entry(basename(path)), data, { flag: 'wx' }));
 * ```
 */
export async function inDirectory<T>(path: string, options: { expected?: Identity | undefined; phase: Phase; what: string; follow?: boolean }, fn: (dir: DirectoryHandle) => T | Promise<T>): Promise<T> {
  const dir = openDirectory(path, options);
  try {
    return await fn(dir);
  } finally {
    fs.closeSync(dir.fd);
  }
}

/** {@link inDirectory} without the promise, for synchronous callers. */
export function inDirectorySync<T>(path: string, options: { expected?: Identity | undefined; phase: Phase; what: string; follow?: boolean }, fn: (dir: DirectoryHandle) => T): T {
  const dir = openDirectory(path, options);
  try {
    return fn(dir);
  } finally {
    fs.closeSync(dir.fd);
  }
}

/** The parent of `path` and its own name, the pair every per-entry call needs. */
export function splitPath(path: string): { parent: string; name: string } {
  return { parent: dirname(path), name: basename(path) };
}

function openDirectory(path: string, options: { expected?: Identity | undefined; phase: Phase; what: string; follow?: boolean }): DirectoryHandle {
  let fd: number;
  try {
    fd = openDirectorySafely(path, { what: options.what, ...(options.follow ? { follow: true } : {}) });
  } catch (error) {
    // Without /proc nothing was looked at: that is no conflict with what the step left.
    if (error instanceof UnwindError && !(error instanceof NoProcError)) throw refusal(options.phase, path, options, error);
    throw error;
  }
  if (options.expected) {
    const found = identityOfDescriptor(fd);
    // At undo, a directory recreated at the very same place (a later step's copy-back, a restore)
    // is accepted too: the open directory must then sit exactly at the path, reached through no symlink.
    const same = (found.ino === options.expected.ino && (options.phase === 'undo' || found.dev === options.expected.dev)) || (options.phase === 'undo' && locationOf(fd) === resolve(path));
    if (!same) {
      fs.closeSync(fd);
      const message = `${options.what} ${path} is not the directory prepare looked at (device ${options.expected.dev} inode ${options.expected.ino}, now ${found.dev}/${found.ino}): a directory on the way was swapped; nothing was touched`;
      throw refusal(options.phase, path, options, new TargetChangedError(message, { path, expected: options.expected, found }), `directory device ${options.expected.dev} inode ${options.expected.ino}`, `directory device ${found.dev} inode ${found.ino}`);
    }
  }
  const self = `/proc/self/fd/${fd}`;
  return { path, fd, self, entry: (name) => `${self}/${name}`, entryForChild: (name) => `/proc/${process.pid}/fd/${fd}/${name}` };
}

/** Where an open directory is now (the kernel's name for it), or undefined. */
function locationOf(fd: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/** At `do` the typed error itself; at `undo` an UndoConflictError naming both states, so the rollback ends rollback-failed untouched. */
function refusal(phase: Phase, path: string, options: { what: string }, error: UnwindError, expected?: string, found?: string): UnwindError {
  if (phase === 'do') return error;
  return new UndoConflictError(path, expected ?? `${options.what} this step changed`, found ?? error.message, { path });
}

/**
 * Throws TargetChangedError (at do) or UndoConflictError (at undo) unless
 * the entry at `entryPath` (reached through an open directory) is the one
 * recorded. A missing entry is `undefined`, for the caller to judge.
 *
 * @example
 * ```ts
 * checkSameEntry(dir.entry('app.conf'), '/etc/app.conf', before.entry, 'do');
 * ```
 */
export function checkSameEntry(entryPath: string, shownPath: string, expected: Identity | undefined, phase: Phase, known?: Identity): void {
  if (!expected) return;
  const found = known ?? identityOf(entryPath);
  if (found && found.ino === expected.ino && (phase === 'undo' || found.dev === expected.dev)) return;
  const now = found ? `device ${found.dev} inode ${found.ino}` : 'nothing';
  if (phase === 'undo') throw new UndoConflictError(shownPath, `the entry this step changed (device ${expected.dev} inode ${expected.ino})`, now, { path: shownPath });
  throw new TargetChangedError(`${shownPath} is not what prepare looked at (device ${expected.dev} inode ${expected.ino}, now ${now}); nothing was touched`, { path: shownPath, expected, found: found ?? null });
}
