import type { JournaledStep, LockHolder, TransactionListing, TransactionState } from '@unwind/core';
import { plural } from '@unwind/progress';
import { errorLine, printable } from './terminal-text.js';

/** How `unwind status` classes a transaction. */
export type TransactionClass = 'running' | 'interrupted' | 'stuck' | 'unreadable' | 'committed' | 'rolled-back';

/**
 * Classes a listed transaction: still `running` (its process holds the lock),
 * `interrupted` (unfinished, its process is gone), `stuck` (a rollback or
 * commit action failed and is waiting for `recover`), `unreadable` (its
 * journal cannot be used), or finished (`committed`, `rolled-back`).
 */
export function classify(listing: TransactionListing, lock: (LockHolder & { alive: boolean }) | undefined): TransactionClass {
  if (!listing.state) return 'unreadable';
  const state = listing.state;
  if (state.ended) return state.ended;
  if (lock?.alive && lock.pid === state.pid && lock.host === state.host) return 'running';
  if (state.rollbackFailed || state.records.some((r) => r.kind === 'commit-failed')) return 'stuck';
  return 'interrupted';
}

/** Where one journaled step got to, in words. */
export function stepState(step: JournaledStep): string {
  if (step.undoFailed) return `undo failed: ${errorLine(step.undoFailed)}`;
  if (step.undone) return 'undone';
  if (step.failed) return `failed: ${errorLine(step.failed)}`;
  if (step.commitDone) return 'committed';
  if (step.verified) return 'done and verified';
  if (step.done) return 'done, not verified';
  return 'started, did not finish';
}

/** The steps a rollback would still undo, newest first. */
export function pendingUndos(state: TransactionState): JournaledStep[] {
  return state.steps.filter((s) => !s.undone).reverse();
}

/** What `recover` would do with a transaction, in words. */
export function recoveryText(state: TransactionState): string {
  switch (state.recovery) {
    case 'none':
      return 'nothing (finished)';
    case 'finish commit actions': {
      const left = state.steps.filter((s) => !s.commitDone).length;
      return `finish the commit actions (the commit point was passed, the changes stay; ${plural(left, 'step')} without a finished commit action)`;
    }
    case 'roll back': {
      const undos = pendingUndos(state);
      if (undos.length === 0) return 'roll back (no step is left to undo; it only closes the journal)';
      // A planted journal's step index may be a string of escapes: `recover` passes its state as it was read.
      return `roll back ${plural(undos.length, 'step')}, newest first: ${undos.map((s) => printable(String(s.index + 1))).join(', ')}`;
    }
  }
}
