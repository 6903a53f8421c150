import { setTimeout as sleep } from 'node:timers/promises';
import { dbPath, type DbFile } from './db.js';
import { liveLockHolder } from './edit.js';
import { ShadowLockError } from './errors.js';

/** The files a shadow tool locks (useradd, usermod and userdel take subuid and subgid too, when they exist). */
const LOCKED_BY_TOOLS: readonly DbFile[] = ['passwd', 'shadow', 'group', 'gshadow', 'subuid', 'subgid'];

/** How long a prepare waits for another program's lock: a useradd holds it for milliseconds, an open vipw for as long as its user likes. */
export const UNLOCK_WAIT_MS = 5000;

/**
 * Waits until no live process holds the lock of a user or group database
 * file, then returns; after `timeoutMs` throws {@link ShadowLockError}
 * naming the file and the pid. What the users kinds' `prepare` does before
 * anything is touched: a shadow tool that meets a held lock waits 15 s
 * before it gives up, and a kind's `do` is tried again, so a lock left held
 * (an open `vipw`) used to cost a `removeUser` about 70 s before its
 * rollback. Stale locks (a dead pid) count as free: the tools take them over.
 *
 * @example
 * ```ts
 * await awaitUnlockedDatabases(a.prefix, ctx.signal); // ShadowLockError: /etc/passwd is locked by pid 4242
 * ```
 */
export async function awaitUnlockedDatabases(prefix: string | undefined, signal?: AbortSignal, timeoutMs = UNLOCK_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = heldLock(prefix);
    if (held === undefined) return;
    if (Date.now() >= deadline || signal?.aborted) throw new ShadowLockError(held.path, `pid ${held.pid}`);
    await sleep(100);
  }
}

function heldLock(prefix: string | undefined): { path: string; pid: number } | undefined {
  for (const file of LOCKED_BY_TOOLS) {
    const path = dbPath(prefix, file);
    const pid = liveLockHolder(`${path}.lock`);
    if (pid !== undefined) return { path, pid };
  }
  return undefined;
}
