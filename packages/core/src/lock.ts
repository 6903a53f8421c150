import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LockHeldError, UnwindError, type LockHolder } from './errors.js';
import { removeFileIfPresent } from './durable.js';
import { logger } from './log.js';
import { randomHex } from './random-hex.js';
import { startTimeOf } from './process-tree.js';

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
  return startTimeOf(pid);
}

let ownStart: string | undefined;

/** This process's own start time never changes: read once, not at every lock taken. */
function ownStartTime(): string | undefined {
  ownStart ??= startTimeOf(process.pid);
  return ownStart;
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

/** The most a lock file holds: a holder is some 200 bytes. */
const LARGEST_LOCK = 64 * 1024;

/** The most of a purpose a lock file keeps: every holder unwind writes stays far below LARGEST_LOCK. */
const LONGEST_PURPOSE = 256;

/**
 * What {@link readHolder} says of a lock file no unwind wrote (larger than a
 * holder can be, or not a regular file): never a dead holder, whose lock may
 * be taken over, since a crash only ever leaves a short or torn one.
 */
const UNREADABLE = 'unreadable';

function readHolder(path: string): LockHolder | undefined {
  return readLockFile(path)?.holder;
}

/** A lock file's holder and which file it was read from (its device and inode), or undefined when there is none. */
function readLockFile(path: string): { holder: LockHolder; dev: number; ino: number } | undefined {
  const unreadable = { pid: 0, host: hostname(), processStart: UNREADABLE, acquiredAt: 'unknown' };
  let read: { text: string | undefined; dev: number; ino: number };
  try {
    read = readLockText(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // A symlink (O_NOFOLLOW: ELOOP), a socket (ENXIO), anything that cannot be opened: no unwind makes one, a crash does not leave one.
    return { holder: unreadable, dev: -1, ino: -1 };
  }
  const { dev, ino } = read;
  if (read.text === undefined) return { holder: unreadable, dev, ino };
  let holder: unknown;
  try {
    holder = JSON.parse(read.text);
  } catch {
    holder = undefined;
  }
  // Only the fields a holder has: a lock file is read by `unwind status` too, which prints what it gets.
  if (isLockHolder(holder)) return { holder: { pid: holder.pid, host: holder.host, processStart: holder.processStart, acquiredAt: holder.acquiredAt, ...(typeof holder.purpose === 'string' ? { purpose: holder.purpose } : {}) }, dev, ino };
  // A lock file we cannot parse, or one that is not a holder (`null`, a number), was torn by a
  // crash while being written, or written by no unwind: either way no live holder stands behind it.
  return { holder: { pid: 0, host: hostname(), processStart: 'torn', acquiredAt: 'unknown' }, dev, ino };
}

/**
 * A lock file's text, read only from a small regular file: never through a
 * symlink (ELOOP), never waiting on a FIFO put in its place (O_NONBLOCK),
 * never a device or a file larger than a holder can be. The readers
 * (`unwind status`, `unwind log`) read a root they do not check; anything
 * else has no text (see UNREADABLE).
 */
function readLockText(path: string): { text: string | undefined; dev: number; ino: number } {
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > LARGEST_LOCK) return { text: undefined, dev: st.dev, ino: st.ino };
    return { text: fs.readFileSync(fd, 'utf8'), dev: st.dev, ino: st.ino };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Removes `path` only while it still names the file `read` came from: a
 * lock or guard judged dead is never removed by name after another process
 * put its own in its place (a second take-over could then remove the first
 * one's new lock). What is left is the moment between this lstat and the
 * unlink, not the whole span since the file was read.
 */
function removeIfStill(path: string, read: { dev: number; ino: number }): boolean {
  const st = fs.lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined || st.dev !== read.dev || st.ino !== read.ino) return false;
  removeFileIfPresent(path);
  return true;
}

function isLockHolder(value: unknown): value is LockHolder {
  if (typeof value !== 'object' || value === null) return false;
  const holder = value as Record<string, unknown>;
  return typeof holder.pid === 'number' && typeof holder.host === 'string' && typeof holder.processStart === 'string' && typeof holder.acquiredAt === 'string';
}

/**
 * The lock file this process linked into place: kept open until the release,
 * so that no other file can take its inode's number meanwhile.
 */
interface OwnLockFile {
  fd: number;
  dev: number;
  ino: number;
}

/**
 * Creates the lock file with its full content in one atomic step: the content
 * goes to a private temp file first, which is then hard-linked to the lock
 * path (link fails with EEXIST like O_EXCL). So no reader ever sees a lock
 * file half-written by a live process; a torn one can only come from a crash.
 * Returns the file, still open, or undefined when the path is taken.
 */
function tryCreate(path: string, holder: LockHolder): OwnLockFile | undefined {
  const temp = `${path}.${process.pid}.${randomHex(6)}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    // Not synced, nor is the link below: a lock only keeps live processes apart, and a
    // power cut leaves none. A lock file it keeps is a dead holder's (stale, taken over);
    // one it keeps torn or empty counts as stale too.
    fs.writeFileSync(fd, JSON.stringify(holder));
    const st = fs.fstatSync(fd);
    fs.linkSync(temp, path);
    const own = { fd, dev: st.dev, ino: st.ino };
    fd = undefined;
    return own;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw new UnwindError('LOCK_ERROR', `cannot create lock ${path}: ${(error as Error).message}`, { context: { path }, cause: error });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    removeFileIfPresent(temp);
  }
}


/**
 * Removes the temp files (`<lock>.<pid>.<hex>`, `<lock>.takeover.<pid>.<hex>`)
 * that a power cut during {@link tryCreate} can leave: their creation reached
 * the disk, their removal did not. Only a dead writer's: the holder written in
 * it is not running, or (torn or empty: the cut came while it was written) no
 * process has its pid. Likewise a dead process's take-over guard
 * (`<lock>.takeover`): a cut after a take-over removed the stale lock but
 * before the guard's removal was durable leaves it, and only another take-over
 * would remove it otherwise. Not synced: a removal the next power cut loses is
 * made again by the next acquire.
 */
function removeDeadTemporaries(directory: string, lockName: string, list: (directory: string) => readonly string[]): void {
  const pattern = new RegExp(`^${lockName.replace(/[.]/g, '\\.')}(?:(?:\\.takeover)?\\.(\\d+)\\.[0-9a-f]{12}|\\.takeover)$`);
  let names: readonly string[];
  try {
    names = list(directory);
  } catch {
    return;
  }
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match) continue;
    const path = join(directory, name);
    const file = readLockFile(path);
    if (file === undefined || file.holder.processStart === UNREADABLE) continue;
    const holder = file.holder;
    // A torn temp file's writer is named by the pid in its name; a guard is written whole before it is linked, so it is never torn by a live writer.
    const alive = holder.processStart === 'torn' ? match[1] !== undefined && isHolderAlive({ ...holder, pid: Number(match[1]), processStart: '' }) : isHolderAlive(holder);
    if (!alive) removeIfStill(path, file);
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
    // Bounded: a holder longer than a lock file can be would read as no holder at all.
    ...(options.purpose ? { purpose: options.purpose.length > LONGEST_PURPOSE ? `${options.purpose.slice(0, LONGEST_PURPOSE - 1)}…` : options.purpose } : {}),
  };
  let tookOverFrom: LockHolder | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const own = tryCreate(path, holder);
    if (own !== undefined) {
      const lock = makeLock(path, holder, tookOverFrom, own);
      try {
        removeDeadTemporaries(directory, `${options.name ?? 'unwind'}.lock`, options.listDirectory ?? ((d) => fs.readdirSync(d)));
      } catch (error) {
        lock.release();
        throw error;
      }
      log('acquired %s', path);
      return lock;
    }
    const current = readHolder(path);
    if (current === undefined) continue; // released between our attempts
    if (isHolderAlive(current) || current.processStart === UNREADABLE) throw new LockHeldError(path, current);
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
  const own = tryCreate(guard, me);
  if (own === undefined) {
    const guardFile = readLockFile(guard);
    if (guardFile === undefined) return false; // gone meanwhile; retry
    if (isHolderAlive(guardFile.holder) || guardFile.holder.processStart === UNREADABLE) return false; // someone else is taking it over; retry
    removeIfStill(guard, guardFile);
    return false;
  }
  try {
    const again = readLockFile(path);
    if (again && again.holder.pid === stale.pid && again.holder.processStart === stale.processStart && !isHolderAlive(again.holder)) {
      if (!removeIfStill(path, again)) return false; // another file there now: judged again
      log('took over stale lock %s of dead pid %d (%s)', path, stale.pid, stale.acquiredAt);
      return true;
    }
    return false;
  } finally {
    removeIfStill(guard, own);
    fs.closeSync(own.fd);
  }
}

/**
 * The lock, released by removing its file when the path still names the
 * file this process linked there (open since, so its inode number cannot
 * have gone to another file): one lstat, where reading the holder back took
 * four system calls. Only a path that names another file is read back.
 */
function makeLock(path: string, holder: LockHolder, tookOverFrom: LockHolder | undefined, own: OwnLockFile): Lock {
  let released = false;
  return {
    path,
    holder,
    ...(tookOverFrom ? { tookOverFrom } : {}),
    release() {
      if (released) return;
      released = true;
      try {
        const current = fs.lstatSync(path, { throwIfNoEntry: false });
        if (current !== undefined && current.dev === own.dev && current.ino === own.ino) removeFileIfPresent(path);
        else if (current !== undefined) {
          // Another file now (a copy of it put there, a mount over it): removed only if it names this very
          // lock, as the release did before it knew the file by its inode; a lock taken over is left alone.
          const named = readHolder(path);
          if (named && named.pid === holder.pid && named.acquiredAt === holder.acquiredAt) removeFileIfPresent(path);
        }
      } finally {
        fs.closeSync(own.fd);
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
  return holder ? { ...holder, alive: isHolderAlive(holder) || holder.processStart === UNREADABLE } : undefined;
}
