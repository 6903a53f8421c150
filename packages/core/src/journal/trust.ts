import { UntrustedJournalError } from '../errors.js';
import type { TransactionState } from './inspect.js';
import { TRANSACTION_ID } from './file-journal.js';

/** The records that are about one step and name it by its index. */
const STEP_RECORDS: ReadonlySet<string> = new Set(['prepared', 'done', 'verified', 'failed', 'commit-done', 'commit-failed', 'undone', 'undo-failed']);

/**
 * Core's own checks of a journal before recovery acts on it (a kind's
 * values are checked by its codecs, `validate` and `validateJournaled`).
 * Checksums only prove a record was not torn; whoever wrote it is not
 * trusted. The transaction must name itself with the id of the directory it
 * is in, and every step index must be a small non-negative integer, because
 * the index names the step's blob directory inside this transaction.
 *
 * @example
 * ```ts
 * checkJournalShape(analyzeRecords(records), id, path); // throws UntrustedJournalError
 * ```
 */
export function checkJournalShape(state: TransactionState, directoryId: string, path: string | undefined): void {
  const first = state.records[0];
  if (first?.kind !== 'begin') throw new UntrustedJournalError(`journal ${path} does not start with a begin record`, { path });
  if (typeof first.id !== 'string' || !TRANSACTION_ID.test(first.id) || first.id !== directoryId) {
    throw new UntrustedJournalError(`journal ${path} names transaction ${JSON.stringify(first.id)}, not its directory's ${directoryId}`, { path, id: first.id, directory: directoryId });
  }
  const prepared = new Set<number>();
  for (const record of state.records) {
    // A record of a step's kind without a step would be applied to no step, or to `undefined`'s.
    if (!STEP_RECORDS.has(record.kind) && !('step' in record)) continue;
    const step = (record as { step?: unknown }).step;
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0 || step > 1_000_000) {
      throw new UntrustedJournalError(`journal ${path} record ${record.seq} names step ${JSON.stringify(step)}, not a step index`, { path, seq: record.seq, step });
    }
    // The runner prepares a step once; a second `prepared` would replace the arguments its undo gets.
    if (record.kind === 'prepared') {
      if (prepared.has(step)) throw new UntrustedJournalError(`journal ${path} record ${record.seq} prepares step ${step + 1} a second time`, { path, seq: record.seq, step });
      prepared.add(step);
    }
  }
  for (const step of state.steps) {
    if (typeof step.type !== 'string') throw new UntrustedJournalError(`journal ${path} step ${step.index + 1} has no step type`, { path, step: step.index });
  }
}
