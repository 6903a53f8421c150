import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { syncDirectory, writeFileAtomically } from '@unwind/core';
import { dbPath, readLines, type DbFile } from './db.js';
import { ShadowLockError } from './errors.js';

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
  // Decide without the lock first: an undo that finds nothing to do takes no lock at all.
  if (edit(readLines(path)) === undefined) return false;
  const release = await lockFile(path, signal);
  try {
    const current = readLines(path);
    const next = edit(current);
    if (next === undefined || next.join('\n') === current.join('\n')) return false;
    replaceFile(path, next.length ? `${next.join('\n')}\n` : '');
    return true;
  } finally {
    release();
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
  try {
    fs.writeFileSync(mine, String(process.pid), { flag: 'wx' }); // O_EXCL: never through a planted symlink
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.lstatSync(mine).isFile()) throw error;
    fs.rmSync(mine); // left by a dead process that had our pid
    fs.writeFileSync(mine, String(process.pid), { flag: 'wx' });
  }
  try {
    for (let i = 0; ; i++) {
      try {
        fs.linkSync(mine, lock);
        return () => fs.rmSync(lock, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = Number.parseInt(readOr(lock, ''), 10);
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
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

function readOr(path: string, fallback: string): string {
  try {
    return fs.readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
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
 * Removes what a shadow tool killed mid-write leaves beside a database
 * file, when its process is dead: `<file>.lock` and `<file>.<pid>` holding
 * a dead pid. (`<file>+`, the new copy being written, is rewritten by the
 * next tool under the lock and needs nothing.) The shadow tools remove a
 * stale lock themselves; this only tidies the pid files they leave.
 *
 * @example
 * ```ts
 * removeStaleLockFiles(prefix, ['passwd', 'shadow', 'group', 'gshadow']);
 * ```
 */
export function removeStaleLockFiles(prefix: string | undefined, files: readonly DbFile[]): void {
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
      const pid = Number.parseInt(readOr(full, ''), 10);
      if (m[1] !== 'lock' && String(pid) !== m[1]) continue; // not a shadow pid file
      if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
      fs.rmSync(full, { force: true });
      removed = true;
    }
    if (removed) syncDirectory(dir);
  }
}
