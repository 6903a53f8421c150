import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { LockHeldError, UnwindError, type LockHolder } from './errors.js';
import { removeFileIfPresent } from './durable.js';
import { logger } from './log.js';
import { randomHex } from './random-hex.js';

const log = logger('lock');

/**
 * A held lock. Release it exactly once.
 *
 * @example
 * ```ts
 * const lock: Lock = acquireLock('/var/lib/app/unwind', { purpose: 'recover' });
 * try { await recover({ root: '/var/lib/app/unwind', kinds, lock }); } finally { lock.release(); }
 * ```
 */
export interface Lock {
  readonly path: string;
  readonly holder: LockHolder;
  /**
   * The dead process whose stale lock was taken over to get this one, if
   * any. unwind reports it (the `lock:stale` event, the debug log) and never
   * prints it: whether to show it is the caller's choice.
   */
  readonly tookOverFrom?: LockHolder;
  /** Removes the lock file if this process still holds it. Safe to call twice. */
  release(): void;
}

/**
 * The start time of a process (field 22 of /proc/PID/stat), or `undefined`
 * when it does not exist. Together with the pid it names a process uniquely,
 * so a reused pid is not mistaken for the holder.
 *
 * @example
 * ```ts
 * const holder: LockHolder = { pid: process.pid, host: hostname(), processStart: processStartTime(process.pid) ?? '', acquiredAt: new Date().toISOString() };
 * ```
 */
export function processStartTime(pid: number): string | undefined {
  if (pid === process.pid) return ownStartTime();
  return readStartTime(pid);
}

let ownStart: string | undefined;

/** This process's own start time never changes: read once, not at every lock taken. */
function ownStartTime(): string | undefined {
  ownStart ??= readStartTime(process.pid);
  return ownStart;
}

function readStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether the holder written in a lock file is still running.
 *
 * @example
 * ```ts
 * const holder: LockHolder = JSON.parse(fs.readFileSync('/var/lib/app/unwind/unwind.lock', 'utf8'));
 * if (!isHolderAlive(holder)) console.warn(`stale lock of dead pid ${holder.pid}`);
 * ```
 */
export function isHolderAlive(holder: LockHolder): boolean {
  if (!Number.isInteger(holder.pid) || holder.pid <= 0) return false;
  if (holder.host !== hostname()) return true; // cannot tell: assume alive, never steal across hosts
  const start = processStartTime(holder.pid);
  if (start === undefined) {
    try {
      process.kill(holder.pid, 0);
      return true; // exists but /proc is unreadable: assume alive
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return holder.processStart === '' || start === holder.processStart;
}

function readHolder(path: string): LockHolder | undefined {
  let holder: unknown;
  try {
    holder = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    holder = undefined;
  }
  if (isLockHolder(holder)) return holder;
  // A lock file we cannot parse, or one that is not a holder (`null`, a number), was torn by a
  // crash while being written, or written by no unwind: either way no live holder stands behind it.
  return { pid: 0, host: hostname(), processStart: 'torn', acquiredAt: 'unknown' };
}

function isLockHolder(value: unknown): value is LockHolder {
  if (typeof value !== 'object' || value === null) return false;
  const holder = value as Record<string, unknown>;
  return typeof holder.pid === 'number' && typeof holder.host === 'string' && typeof holder.processStart === 'string' && typeof holder.acquiredAt === 'string';
}

/**
 * A lock file of this process's: its content written first under a private
 * temporary name (`<lock>.<pid>.<hex>`). Open until it is released (or, when
 * kept, until the process ends), so no other file can take its inode's number
 * meanwhile.
 */
interface OwnLockFile {
  /** The temporary name: kept linked while the lock is held and after, for a lock that keeps its file; otherwise removed (undefined) once linked. */
  temp: string | undefined;
  fd: number;
  dev: number;
  ino: number;
  /** Bytes in the file: a shorter holder is padded with spaces to it (JSON allows them). */
  length: number;
}

/**
 * This process's released lock files, by lock path, kept under their
 * temporary names and open for the next acquire of the same lock: its holder
 * is written over the old one in place and the same file linked into place
 * again. On the disk unwind was measured on, making a new temporary file
 * (an inode allocated, then freed after the release) cost two to three times
 * a lock's other work; a whole small transaction was about a twentieth
 * faster. Each names this process in its content and its name, so another
 * process's sweep (see removeDeadTemporaries) leaves it while this process
 * runs and removes it once it has ended; this process removes them when it
 * exits.
 */
const spares = new Map<string, OwnLockFile>();
let sparesRemovedAtExit = false;

function keepSpare(path: string, own: OwnLockFile): void {
  if (spares.has(path)) return giveUp(own);
  spares.set(path, own);
  if (!sparesRemovedAtExit) {
    sparesRemovedAtExit = true;
    process.once('exit', () => {
      for (const spare of spares.values()) giveUp(spare);
      spares.clear();
    });
  }
}

/** Closes a lock file of this process's and, unless its name may now be another file's, removes its temporary name. */
function giveUp(own: OwnLockFile, removeName = true): void {
  try {
    fs.closeSync(own.fd);
  } catch {
    // already closed
  }
  if (!removeName || own.temp === undefined) return;
  try {
    removeFileIfPresent(own.temp);
  } catch (error) {
    log('could not remove %s: %s', own.temp, (error as Error).message);
  }
}

/**
 * Creates the lock file with its full content in one atomic step: the content
 * goes to a private temp file first, which is then hard-linked to the lock
 * path (link fails with EEXIST like O_EXCL). So no reader ever sees a lock
 * file half-written by a live process; a torn one can only come from a crash.
 * With `keep`, a file this process released earlier is written over and
 * linked again, and the temporary name stays (see spares); without, it is
 * removed once linked. Returns the file, still open, or undefined when the
 * path is taken.
 */
function tryCreate(path: string, holder: LockHolder, keep: boolean): OwnLockFile | undefined {
  const text = JSON.stringify(holder);
  const spare = keep ? spares.get(path) : undefined;
  if (spare !== undefined) {
    spares.delete(path);
    const linked = tryLinkSpare(path, text, spare);
    if (linked !== 'gone') return linked;
  }
  const temp = `${path}.${process.pid}.${randomHex(6)}`;
  let own: OwnLockFile | undefined;
  let linked = false;
  try {
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    own = { temp, fd, dev: 0, ino: 0, length: Buffer.byteLength(text) };
    // Not synced, nor is the link below: a lock only keeps live processes apart, and a
    // power cut leaves none. A lock file it keeps is a dead holder's (stale, taken over);
    // one it keeps torn or empty counts as stale too.
    fs.writeFileSync(fd, text);
    const st = fs.fstatSync(fd);
    own.dev = st.dev;
    own.ino = st.ino;
    fs.linkSync(temp, path);
    linked = true;
    if (!keep) {
      own.temp = undefined;
      removeFileIfPresent(temp);
    }
    return own;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw new UnwindError('LOCK_ERROR', `cannot create lock ${path}: ${(error as Error).message}`, { context: { path }, cause: error });
  } finally {
    if (!linked) {
      if (own !== undefined) giveUp(own);
      else removeFileIfPresent(temp);
    }
  }
}

/**
 * Links a released lock file of this process's into place again, with
 * `text` written over its old holder. Undefined when the lock path is taken
 * (the file stays a spare); 'gone' when the file can no longer be used (its
 * name was removed, or names another file: only root or the running user can
 * do that in a lock's private directory), after giving it up.
 */
function tryLinkSpare(path: string, text: string, spare: OwnLockFile): OwnLockFile | undefined | 'gone' {
  try {
    const length = Buffer.byteLength(text);
    fs.writeSync(spare.fd, length < spare.length ? text.padEnd(text.length + spare.length - length) : text, 0);
    spare.length = Math.max(spare.length, length);
    try {
      fs.linkSync(spare.temp!, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      keepSpare(path, spare);
      return undefined;
    }
    // Two names, both this file's: the temporary name was still ours when it was linked.
    if (fs.fstatSync(spare.fd).nlink === 2) return spare;
    // The lock path just made names some other file: never ours to hold, nor is that file ours to remove.
    removeFileIfPresent(path);
    log('lock file %s not reused: its name is another file now', spare.temp);
    giveUp(spare, false);
    return 'gone';
  } catch (error) {
    log('lock file %s not reused: %s', spare.temp, (error as Error).message);
  }
  giveUp(spare);
  return 'gone';
}


/**
 * Removes the temp files (`<lock>.<pid>.<hex>`, `<lock>.takeover.<pid>.<hex>`)
 * of processes that have ended: a process keeps its lock file under its temp
 * name while it runs (see spares), and one killed, or cut off by a power
 * cut, leaves it. Only a dead writer's: the holder written in it is not
 * running, or (torn or empty: the cut came while it was written) no process
 * has its pid. `own` (this process's, just linked) is not read. Likewise a
 * dead process's take-over guard (`<lock>.takeover`): a cut after a take-over
 * removed the stale lock but before the guard's removal was durable leaves
 * it, and only another take-over would remove it otherwise. Not synced: a
 * removal the next power cut loses is made again by the next acquire.
 */
function removeDeadTemporaries(directory: string, lockName: string, own: string, list: (directory: string) => readonly string[]): void {
  const pattern = new RegExp(`^${lockName.replace(/[.]/g, '\\.')}(?:(?:\\.takeover)?\\.(\\d+)\\.[0-9a-f]{12}|\\.takeover)$`);
  let names: readonly string[];
  try {
    names = list(directory);
  } catch {
    return;
  }
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match || name === own) continue;
    const path = join(directory, name);
    const holder = readHolder(path);
    if (holder === undefined) continue;
    // A torn temp file's writer is named by the pid in its name; a guard is written whole before it is linked, so it is never torn by a live writer.
    const alive = holder.processStart === 'torn' ? match[1] !== undefined && isHolderAlive({ ...holder, pid: Number(match[1]), processStart: '' }) : isHolderAlive(holder);
    if (!alive) removeFileIfPresent(path);
  }
}

/**
 * Options of {@link acquireLock}.
 *
 * @example
 * ```ts
 * const options: AcquireLockOptions = { name: 'reconcile', purpose: 'reconcile users' };
 * const lock = acquireLock('/var/lib/app/unwind', options);
 * ```
 */
export interface AcquireLockOptions {
  /** The lock file's name without `.lock`. Default `unwind`. */
  name?: string;
  /** Written into the lock file, for whoever finds it held. */
  purpose?: string;
  /**
   * Lists the directory's entry names, once the lock is held, to find the
   * temp files a crash left (default `fs.readdirSync`). A caller that lists
   * the directory anyway under the lock (the file journal: its unfinished
   * transactions) passes its own listing here, so one listing serves both.
   */
  listDirectory?: (directory: string) => readonly string[];
  /**
   * Keeps the lock file after the release, under its temporary name
   * (`<name>.lock.<pid>.<hex>`), for this process's next acquire of the same
   * lock, which writes the new holder over it and links it into place again:
   * no file is made or removed per lock. The file stays in the directory
   * while the process runs and is removed when it exits (after a kill, by
   * the next acquire's sweep of dead writers' temp files). Default false;
   * the file journal keeps its root's lock file.
   */
  keepFile?: boolean;
}

/**
 * Takes the lock file `<directory>/<name>.lock`: created with O_EXCL, holding
 * pid, host and process start time. A live holder makes this throw
 * {@link LockHeldError} at once; a dead holder's lock is taken over (and
 * named in the returned lock's `tookOverFrom`).
 *
 * @example
 * ```ts
 * const lock = acquireLock('/var/lib/app/unwind', { purpose: 'reconcile' });
 * try { ... } finally { lock.release(); }
 * ```
 */
export function acquireLock(directory: string, options: AcquireLockOptions = {}): Lock {
  const path = join(directory, `${options.name ?? 'unwind'}.lock`);
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    processStart: processStartTime(process.pid) ?? '',
    acquiredAt: new Date().toISOString(),
    ...(options.purpose ? { purpose: options.purpose } : {}),
  };
  let tookOverFrom: LockHolder | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const own = tryCreate(path, holder, options.keepFile === true);
    if (own !== undefined) {
      const lock = makeLock(path, holder, tookOverFrom, own, options.keepFile === true);
      try {
        removeDeadTemporaries(directory, `${options.name ?? 'unwind'}.lock`, own.temp === undefined ? '' : basename(own.temp), options.listDirectory ?? ((d) => fs.readdirSync(d)));
      } catch (error) {
        lock.release();
        throw error;
      }
      log('acquired %s', path);
      return lock;
    }
    const current = readHolder(path);
    if (current === undefined) continue; // released between our attempts
    if (isHolderAlive(current)) throw new LockHeldError(path, current);
    if (takeOverStale(path, current)) tookOverFrom = current;
  }
  throw new UnwindError('LOCK_ERROR', `could not take ${path}: it kept changing hands`, { context: { path } });
}

/**
 * Removes a dead holder's lock; true when this process removed it. A second
 * lock file (`.takeover`) serialises the take-over so two processes cannot
 * both remove and recreate it.
 */
function takeOverStale(path: string, stale: LockHolder): boolean {
  const guard = `${path}.takeover`;
  const me: LockHolder = { pid: process.pid, host: hostname(), processStart: processStartTime(process.pid) ?? '', acquiredAt: new Date().toISOString() };
  const own = tryCreate(guard, me, false);
  if (own === undefined) {
    const guardHolder = readHolder(guard);
    if (guardHolder && isHolderAlive(guardHolder)) return false; // someone else is taking it over; retry
    removeFileIfPresent(guard);
    return false;
  }
  try {
    const again = readHolder(path);
    if (again && again.pid === stale.pid && again.processStart === stale.processStart && !isHolderAlive(again)) {
      removeFileIfPresent(path);
      log('took over stale lock %s of dead pid %d (%s)', path, stale.pid, stale.acquiredAt);
      return true;
    }
    return false;
  } finally {
    removeFileIfPresent(guard);
    giveUp(own);
  }
}

/**
 * The lock, released by removing its file when the path still names the
 * file this process linked there (open since, so its inode number cannot
 * have gone to another file): one lstat, where reading the holder back took
 * four system calls. Only a path that names another file is read back. With
 * `keepFile` the file stays this process's, under its temporary name, for
 * the next acquire (see spares).
 */
function makeLock(path: string, holder: LockHolder, tookOverFrom: LockHolder | undefined, own: OwnLockFile, keep: boolean): Lock {
  let released = false;
  return {
    path,
    holder,
    ...(tookOverFrom ? { tookOverFrom } : {}),
    release() {
      if (released) return;
      released = true;
      let kept = false;
      try {
        const current = fs.lstatSync(path, { throwIfNoEntry: false });
        if (current !== undefined && current.dev === own.dev && current.ino === own.ino) removeFileIfPresent(path);
        else if (current !== undefined) {
          // Another file now (a copy of it put there, a mount over it): removed only if it names this very
          // lock, as the release did before it knew the file by its inode; a lock taken over is left alone.
          const named = readHolder(path);
          if (named && named.pid === holder.pid && named.acquiredAt === holder.acquiredAt) removeFileIfPresent(path);
        }
        if (keep) {
          keepSpare(path, own);
          kept = true;
        }
      } finally {
        if (!kept) giveUp(own);
      }
      log('released %s', path);
    },
  };
}

/**
 * Reads who holds a lock without taking it.
 *
 * @example
 * ```ts
 * const holder = readLock('/var/lib/app/unwind'); // undefined when free
 * ```
 */
export function readLock(directory: string, name = 'unwind'): (LockHolder & { alive: boolean }) | undefined {
  const holder = readHolder(join(directory, `${name}.lock`));
  return holder ? { ...holder, alive: isHolderAlive(holder) } : undefined;
}
