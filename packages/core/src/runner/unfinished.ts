import { UnfinishedTransactionError } from '../errors.js';
import type { Lock } from '../lock.js';
import { recover, type RecoveredTransaction } from '../recover.js';
import type { AnyStepKind } from '../step.js';
import type { TransactionOptions } from './transaction.js';

/**
 * A new transaction never starts on top of unfinished ones: a crashed or
 * stuck transaction's later recovery would undo what the new one did to the
 * same files or accounts, and the new one would act on a half-changed machine.
 * Refuses with {@link UnfinishedTransactionError}, or, with `recoverFirst`,
 * recovers them under the lock this run holds and refuses only if that did
 * not finish every one. Returns what recovery did.
 */
export async function finishEarlierTransactions(options: TransactionOptions, ownKinds: AnyStepKind[], lock: Lock | undefined): Promise<RecoveredTransaction[]> {
  const journal = options.journal;
  const ids = journal.unfinished?.() ?? [];
  if (ids.length === 0 || journal.root === undefined) return [];
  const resume = `unwind recover --root ${journal.root}`;
  if (!options.recoverFirst) throw new UnfinishedTransactionError(journal.root, ids, resume);
  const heldLock = lock ?? (typeof options.lock === 'object' ? options.lock : undefined);
  const report = await recover({
    root: journal.root,
    kinds: [...ownKinds, ...(options.kinds ?? [])],
    retention: journal.retention,
    ...(heldLock ? { lock: heldLock } : {}),
    ...(options.exec ? { exec: options.exec } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  if (report.refused) throw new UnfinishedTransactionError(journal.root, ids, resume, `recovery was refused: ${report.refused.message}`);
  const stuck = report.transactions.filter((t) => !['rolled-back', 'committed', 'already-finished'].includes(t.result));
  if (stuck.length > 0) {
    const detail = `recovery did not finish ${stuck.map((t) => `${t.id} (${t.result}${t.error ? `: ${t.error.message}` : ''})`).join(', ')}`;
    throw new UnfinishedTransactionError(journal.root, stuck.map((t) => t.id), resume, detail);
  }
  return report.transactions.filter((t) => t.result !== 'already-finished');
}
