import * as fs from 'node:fs';
import { join } from 'node:path';
import { LockHeldError, UnfinishedTransactionError, assertPrivateDirectory, causeOf, readLock, unfinishedTransactionIds, type Cause } from '@unwind/core';
import { EXIT } from '../errors.js';

/**
 * What a real run would meet on the journal root, found by reading only.
 * `refusal` is set when the run would be refused before touching anything,
 * with the cause `tx.run()` would give; `wouldRecover` lists the unfinished
 * transactions a `recoverFirst` run would recover before its own steps.
 *
 * @example
 * ```ts
 * const state = inspectRoot('/var/lib/app/unwind', false);
 * if (state.refusal) console.error(state.refusal.cause.message); // exit state.refusal.exitCode
 * ```
 */
export interface RootState {
  refusal?: { cause: Cause; exitCode: number };
  wouldRecover: string[];
}

/**
 * The checks `tx.run()` makes on the journal root before its first step, in
 * the same order — the root must be private, its lock free, and no
 * unfinished transaction on it (or `recoverFirst`) — made without creating,
 * locking or changing anything, for `--dry-run`. A stale lock is no refusal:
 * the run takes it over. A root that does not exist holds nothing.
 *
 * @example
 * ```ts
 * inspectRoot('/var/lib/app/unwind', false);
 * // { refusal: { cause: { code: 'UNFINISHED_TRANSACTION', transactionIds: [...], resume: 'unwind recover --root …', … }, exitCode: 5 }, wouldRecover: [] }
 * ```
 */
export function inspectRoot(root: string, recoverFirst: boolean): RootState {
  if (!exists(root)) return { wouldRecover: [] };
  try {
    assertPrivateDirectory(root, 'journal root');
  } catch (error) {
    return { refusal: { cause: causeOf(error), exitCode: EXIT.badInput }, wouldRecover: [] };
  }
  const lock = readLock(root);
  if (lock?.alive) {
    const { alive: _alive, ...holder } = lock;
    return { refusal: { cause: causeOf(new LockHeldError(join(root, 'unwind.lock'), holder)), exitCode: EXIT.locked }, wouldRecover: [] };
  }
  // Read only: a run's own listing would first rename a journal a power cut left in the reusable directory.
  const unfinished = unfinishedTransactionIds(root);
  if (unfinished.length === 0) return { wouldRecover: [] };
  if (recoverFirst) return { wouldRecover: unfinished };
  const refused = new UnfinishedTransactionError(root, unfinished, `unwind recover --root ${root}`);
  return { refusal: { cause: causeOf(refused), exitCode: EXIT.unfinished }, wouldRecover: [] };
}

/** Any error but ENOENT counts as existing: the privacy check then names it, as a run's would. */
function exists(path: string): boolean {
  try {
    fs.lstatSync(path);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
