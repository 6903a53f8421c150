import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { removeTemporaryFiles, syncDirectory, writeFileAtomically, writeFully } from '@unwind/core';
import { dbPath, keyOf, readLines, type DbFile } from './db.js';
import { ShadowLockError, UnsafeLockFileError } from './errors.js';

/**
 * Edits one database file the way the shadow tools do: under its
 * `<file>.lock`, reading the file again inside the lock, and replacing it
 * atomically (same mode and owner). `edit` gets the current lines and
 * returns the new ones, or `undefined` for no change (nothing is written).
 * `edit` is where an undo compares what is there with what its step left:
 * it throws (UndoConflictError) before anything is written.
 *
 * @example
 * ```ts
 * await editDatabase(prefix, 'group', (lines) => lines.map((l) => (keyOf(l) === 'managed' ? withoutMember(l, 3, 'app') : l)));
 * ```
 */
export async function editDatabase(prefix: string | undefined, file: DbFile, edit: (lines: string[]) => string[] | undefined, signal?: AbortSignal): Promise<boolean> {
  const path = dbPath(prefix, file);
  if (!fs.existsSync(path)) return false;
  // What an edit cut off by a power cut leaves: the lock and pid files of a dead process, and the
  // new copy it never renamed into place. An undo run again by recovery removes them.
  await removeStaleLockFiles(prefix, [file], signal);
  const leftovers = temporaryFilesOf(path);
  // Decide without the lock first: an undo that finds nothing to do (and nothing left) takes no lock at all.
  if (leftovers === 0 && edit(readLines(path)) === undefined) return false;
  const release = await lockFile(path, signal);
  try {
    if (leftovers > 0) removeTemporaryFiles(path); // under the lock: no live writer's copy is there
    const current = readLines(path);
    const next = edit(current);
    if (next === undefined || next.join('\n') === current.join('\n')) return false;
    replaceFile(path, next.length ? `${next.join('\n')}\n` : '');
    return true;
  } finally {
    release();
  }
}

/** How many of the atomic write's temp files are beside `path`. */
function temporaryFilesOf(path: string): number {
  const prefix = `.${basename(path)}.unwind-`;
  try {
    return fs.readdirSync(dirname(path)).filter((name) => name.startsWith(prefix)).length;
  } catch {
    return 0;
  }
}

/** Replaced through core's one durable-write module, keeping the file's mode and owner. */
function replaceFile(path: string, content: string): void {
  const st = fs.statSync(path);
  writeFileAtomically(path, content, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
}

/**
 * Takes `<path>.lock` the way shadow's commonio does: a file `<path>.<pid>`
 * holding our pid, hard-linked to the lock name so the creation is atomic;
 * a lock whose pid is dead is stale and removed (as shadow does). Retries
 * for about five seconds, then ShadowLockError.
 */
async function lockFile(path: string, signal?: AbortSignal): Promise<() => void> {
  const lock = `${path}.lock`;
  const mine = `${path}.${process.pid}`;
  refuseUnsafe(lock);
  refuseUnsafe(mine);
  if (!createPidFile(mine)) {
    fs.rmSync(mine); // a regular file left by a dead process that had our pid (a symlink was refused above)
    if (!createPidFile(mine)) throw new UnsafeLockFileError(mine, 'keeps reappearing');
  }
  try {
    for (let i = 0; ; i++) {
      try {
        fs.linkSync(mine, lock); // link(2) never follows a symlink at the new name: EEXIST
        return () => {
          fs.rmSync(lock, { force: true });
          // Durable before the step's next record: else a power cut after the transaction ended
          // could bring the lock back, and nothing of this transaction would remove it.
          syncDirectory(dirname(path));
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const text = readLockFile(lock);
      const holder = Number.parseInt(text, 10);
      // Empty: the lock is linked only once its pid is written, so only a power cut (the link on
      // disk, the pid's bytes not) leaves one — no process holds it.
      if (text === '' ? fs.lstatSync(lock, { throwIfNoEntry: false })?.size === 0 : Number.isInteger(holder) && holder > 0 && !alive(holder)) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (i >= 50 || signal?.aborted) throw new ShadowLockError(path, `pid ${holder}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

/** Throws UnsafeLockFileError when something other than a regular file (a planted symlink, a directory) is at a lock name. */
function refuseUnsafe(path: string): void {
  const st = fs.lstatSync(path, { throwIfNoEntry: false });
  if (st?.isSymbolicLink()) throw new UnsafeLockFileError(path, `is a symlink (to ${fs.readlinkSync(path)})`);
  if (st && !st.isFile()) throw new UnsafeLockFileError(path, 'is not a regular file');
}

/** Creates `<file>.<pid>` holding our pid with O_EXCL|O_NOFOLLOW: never opened through anything planted there. False when a file is there already. */
function createPidFile(path: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    refuseUnsafe(path); // a symlink planted between our look and the open
    return false;
  }
  try {
    writeFully(fd, String(process.pid), path);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** The lock file's text, read without following a symlink; '' when it cannot be read. */
function readLockFile(path: string): string {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new UnsafeLockFileError(path, 'is a symlink');
    return '';
  }
  try {
    return fs.readFileSync(fd, 'utf8').trim();
  } finally {
    fs.closeSync(fd);
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return fs.readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

/**
 * The live process holding `<file>.lock`, or undefined when nothing does: no
 * lock file, or a stale one (its pid dead, or empty: see lockFile), which the
 * shadow tools and lockFile take over. Never follows a symlink at the name.
 *
 * @example
 * ```ts
 * liveLockHolder('/etc/passwd.lock'); // 4242 while a useradd runs
 * ```
 */
export function liveLockHolder(lock: string): number | undefined {
  refuseUnsafe(lock);
  const text = readLockFile(lock);
  const holder = Number.parseInt(text, 10);
  if (text === '' || !Number.isInteger(holder) || holder <= 0) return undefined;
  return alive(holder) ? holder : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * What every users undo runs last: the leftovers of a shadow tool this
 * step ran and a kill stopped half-way (see removeStaleLockFiles), and the
 * temp copy of a line edit of unwind's own that a kill cut off before its rename.
 *
 * @example
 * ```ts
 * await tidyKilledTool(a.prefix, ctx.signal);
 * ```
 */
export async function tidyKilledTool(prefix: string | undefined, signal?: AbortSignal): Promise<void> {
  const files: DbFile[] = ['passwd', 'shadow', 'group', 'gshadow'];
  await removeStaleLockFiles(prefix, files, signal);
  // And the new copy of one of unwind's own line edits, killed after writing it and before the rename:
  // an undo that then finds its lines as it wants them makes no edit, so nothing else would remove it.
  for (const file of files) {
    const path = dbPath(prefix, file);
    if (temporaryFilesOf(path) === 0) continue;
    const release = await lockFile(path, signal);
    try {
      removeTemporaryFiles(path); // under the lock: no live writer's copy is there
    } finally {
      release();
    }
  }
}

/**
 * Removes what a shadow tool killed mid-write leaves beside a database
 * file, when its process is dead: `<file>.lock` and `<file>.<pid>` (holding
 * that dead pid, or still empty: killed before it wrote it), then
 * `<file>+`, the new copy it was writing — under the file's own lock, so a
 * tool running now is never robbed of its copy. The shadow tools would
 * take over the stale lock and rewrite `<file>+` themselves; this leaves
 * the directory as it was before the step.
 *
 * @example
 * ```ts
 * await removeStaleLockFiles(prefix, ['passwd', 'shadow', 'group', 'gshadow']);
 * ```
 */
export async function removeStaleLockFiles(prefix: string | undefined, files: readonly DbFile[], signal?: AbortSignal): Promise<void> {
  for (const file of files) {
    const path = dbPath(prefix, file);
    const dir = dirname(path);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    let removed = false;
    for (const name of names) {
      const m = new RegExp(`^${basename(path).replace(/[.+]/g, '\\$&')}\\.(\\d+|lock)$`).exec(name);
      if (!m) continue;
      const full = join(dir, name);
      const st = fs.lstatSync(full);
      if (!st.isFile() || st.size > 32) continue;
      const content = readOr(full, '').replace(/\0+$/, ''); // shadow writes the pid with its NUL
      // A pid file is named by its pid; it is empty when its tool died before writing into it.
      const pid = m[1] === 'lock' ? Number.parseInt(content, 10) : Number(m[1]);
      if (m[1] !== 'lock' && content !== '' && content !== m[1]) continue; // not a shadow pid file
      if (content === '' && m[1] === 'lock' && st.size === 0) {
        // An empty lock: linked only once its pid is written, so a power cut (the link on disk, the
        // pid's bytes not) left it; no process holds it.
        fs.rmSync(full, { force: true });
        removed = true;
        continue;
      }
      if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
      fs.rmSync(full, { force: true });
      removed = true;
    }
    if (removed) syncDirectory(dir);
    const copy = `${path}+`;
    if (!isFile(copy)) continue;
    const release = await lockFile(path, signal);
    try {
      if (isFile(copy)) {
        fs.rmSync(copy, { force: true });
        syncDirectory(dir);
      }
    } finally {
      release();
    }
  }
}

function isFile(path: string): boolean {
  try {
    return fs.lstatSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * After an undo, the lines of `key` in `file` are exactly the one line
 * that was there before the step (an orphan: a shadow line without its
 * passwd line, a gshadow line without its group line), or none when there
 * was none. The tool the step ran may have added its own line beside the
 * orphan, and the tool the undo ran may have removed either: what the step
 * found is put back, what it made goes.
 *
 * @example
 * ```ts
 * await restoreOrphanLine(a.prefix, 'gshadow', a.name, before.gshadowLine, ctx.signal);
 * ```
 */
export async function restoreOrphanLine(prefix: string | undefined, file: DbFile, key: string, original: string | null, signal?: AbortSignal): Promise<void> {
  await editDatabase(prefix, file, (lines) => {
    const own = lines.filter((l) => keyOf(l) === key);
    if (original === null ? own.length === 0 : own.length === 1 && own[0] === original) return undefined;
    const others = lines.filter((l) => keyOf(l) !== key);
    return original === null ? others : [...others, original];
  }, signal);
}

/**
 * Recovery's check of a journaled orphan line: none, or one line of `key`
 * (no newline, at most as long as a database line can sensibly be).
 *
 * @example
 * ```ts
 * checkJournaledOrphanLine(before.shadowLine, a.name, (why) => new UntrustedJournalError(why, {}));
 * ```
 */
export function checkJournaledOrphanLine(line: string | null | undefined, key: string, bad: (why: string) => Error): void {
  if (line === null || line === undefined) return;
  if (line.includes('\n') || line.includes('\0') || line.length > 4096 || keyOf(line) !== key) throw bad(`the journaled orphan line is not one line of "${key}"`);
}
