import type { Cause } from '../cause.js';
import type { SerializedError } from '../errors.js';
import type { RecoveredTransaction } from '../recover.js';

/**
 * Where a step ended up.
 *
 * @example
 * ```ts
 * const undone = outcome.steps.filter((s) => s.status === 'undone').length;
 * ```
 */
export type StepStatus =
  | 'not-started' // never prepared
  | 'prepared' // journaled; do did not finish
  | 'done' // do finished, not verified yet
  | 'verified'
  | 'failed' // do or verify failed
  | 'undone'
  | 'undo-failed'
  | 'committed'; // the transaction committed and the step's commit action ran

/**
 * What happened to one step.
 *
 * @example
 * ```ts
 * for (const s of outcome.steps) console.log(s.index + 1, s.label ?? s.description, s.status, s.error?.message ?? '');
 * ```
 */
export interface StepReport {
  index: number;
  type: string;
  description: string;
  label?: string;
  status: StepStatus;
  /** Attempts of `do`. */
  attempts: number;
  durationMs?: number;
  /** Why `prepare`, `do` or `verify` failed (with command, exit code and stderr where there was one). */
  error?: SerializedError;
  undo?: { attempts: number; durationMs: number; error?: SerializedError };
  commit?: { error?: SerializedError };
}

interface OutcomeBase {
  name: string;
  /** Undefined when nothing was journaled (refused before `begin`). */
  transactionId: string | undefined;
  /** The journal file, for a file journal. */
  journalPath: string | undefined;
  steps: StepReport[];
  durationMs: number;
  /** Errors thrown by `finally` actions. They never change the status. */
  finallyErrors: SerializedError[];
  /** Earlier unfinished transactions that `recoverFirst` recovered before this one began. */
  recovered?: RecoveredTransaction[];
  /**
   * What failed after the transaction had ended: closing or pruning its
   * journal, releasing the lock (e.g. a journal root that became read-only).
   * They never change the status; a lock left behind is taken over as stale
   * by the next run once this process is gone.
   */
  cleanupErrors: SerializedError[];
}

/**
 * Every step done and verified; commit actions ran (or are pending, see `pendingCommits`).
 *
 * @example
 * ```ts
 * if (outcome.status === 'committed' && outcome.pendingCommits.length > 0) console.warn('clean-up pending: run recover');
 * ```
 */
export interface CommittedOutcome extends OutcomeBase {
  status: 'committed';
  /** Steps whose commit action failed after retries; `recover` finishes them. Empty normally. */
  pendingCommits: number[];
}

/**
 * A step failed; every started step was undone and the undo verified.
 *
 * @example
 * ```ts
 * if (outcome.status === 'rolled-back') console.error(`rolled back: ${outcome.cause.message}`);
 * ```
 */
export interface RolledBackOutcome extends OutcomeBase {
  status: 'rolled-back';
  /** What stopped the run; `switch (cause.code)` narrows it. */
  cause: Cause;
  /** The rollback succeeded but the journal could not record it; `recover` will re-run the (idempotent) undos. */
  journalIncomplete?: boolean;
}

/**
 * An undo failed after its retries. The journal stays; `resume` says how to finish.
 *
 * @example
 * ```ts
 * if (outcome.status === 'rollback-failed') console.error(`${outcome.undoError.message}; to finish, run: ${outcome.resume}`);
 * ```
 */
export interface RollbackFailedOutcome extends OutcomeBase {
  status: 'rollback-failed';
  /** What stopped the run. */
  cause: Cause;
  /** Steps still not undone, newest first; the first is the one whose undo failed. */
  remaining: number[];
  /** Why the undo failed, e.g. code `UNDO_CONFLICT` with the subject someone else changed. */
  undoError: Cause;
  /** The command or call that resumes the rollback. */
  resume: string;
}

/**
 * Nothing was touched: the lock was held, the input was invalid, the
 * journal root was unsafe, or unfinished transactions must be recovered first.
 *
 * @example
 * ```ts
 * if (outcome.status === 'refused') {
 *   if (outcome.cause.code === 'LOCK_HELD') console.error(`another run holds the lock: pid ${outcome.cause.holder.pid}`);
 *   else console.error(`nothing changed: ${outcome.cause.message}`);
 * }
 * ```
 */
export interface RefusedOutcome extends OutcomeBase {
  status: 'refused';
  /** Why nothing was touched: `LOCK_HELD`, `INVALID_INPUT`, `UNSAFE_DIRECTORY`, `UNFINISHED_TRANSACTION`, ... */
  cause: Cause;
}

/**
 * The result of `tx.run()`.
 *
 * @example
 * ```ts
 * const outcome = await tx.run();
 * if (outcome.status !== 'committed') console.error(describeOutcome(outcome));
 * process.exitCode = exitCodeOf(outcome);
 * ```
 */
export type Outcome = CommittedOutcome | RolledBackOutcome | RollbackFailedOutcome | RefusedOutcome;

/**
 * The conventional exit code: 0 committed, 1 rolled back, 2 rollback failed,
 * 3 lock held, 4 invalid input or an unsafe journal root, 5 unfinished
 * transactions under the root must be recovered first (3, 4 and 5: refused,
 * nothing touched).
 *
 * @example
 * ```ts
 * process.exitCode = exitCodeOf(await tx.run());
 * ```
 */
export function exitCodeOf(outcome: Outcome): number {
  switch (outcome.status) {
    case 'committed':
      return 0;
    case 'rolled-back':
      return 1;
    case 'rollback-failed':
      return 2;
    case 'refused':
      return outcome.cause.code === 'LOCK_HELD' ? 3 : outcome.cause.code === 'UNFINISHED_TRANSACTION' ? 5 : 4;
  }
}

/**
 * Plain words for the person running the program: what failed, that a
 * rollback ran, and how it ended.
 *
 * The text is not escaped for a terminal: it quotes step descriptions and
 * error messages, which may hold a file name another user chose or what a
 * command printed (control characters included, e.g. an ESC sequence that
 * clears the screen or sets the title). Pass each line through `printable`
 * of `@unwind/progress` before it reaches a terminal; the same holds for an
 * error's `message`.
 *
 * @example
 * ```ts
 * import { printable } from '@unwind/progress';
 * for (const line of describeOutcome(outcome).split('\n')) console.error(printable(line));
 * // Step 4 of 6 failed: write /etc/app.conf: ENOSPC: no space left on device
 * // Rolled back 4 steps, newest first. The machine is as it was before.
 * ```
 */
export function describeOutcome(outcome: Outcome): string {
  const total = outcome.steps.length;
  const failedStep = outcome.steps.find((s) => s.status === 'failed' || s.error !== undefined);
  const what = failedStep
    ? `Step ${failedStep.index + 1} of ${total} failed: ${failedStep.description}: ${messageOf(failedStep.error)}`
    : 'cause' in outcome
      ? `The transaction stopped: ${messageOf(outcome.cause)}`
      : '';
  switch (outcome.status) {
    case 'committed':
      return outcome.pendingCommits.length === 0
        ? `Done: all ${total} steps applied and verified.`
        : `Applied and verified all ${total} steps, but the final clean-up of steps ${outcome.pendingCommits.map((i) => i + 1).join(', ')} did not finish; run recovery to finish it.`;
    case 'rolled-back': {
      const undone = outcome.steps.filter((s) => s.status === 'undone').length;
      return `${what}\nRolled back ${undone} step${undone === 1 ? '' : 's'}, newest first. The machine is as it was before.`;
    }
    case 'rollback-failed': {
      const stuck = outcome.steps[outcome.remaining[0] ?? -1];
      return [
        what,
        `The rollback could not finish: undoing step ${(stuck?.index ?? 0) + 1} (${stuck?.description}) failed: ${messageOf(outcome.undoError)}`,
        `Not yet undone: ${outcome.remaining.map((i) => `step ${i + 1} (${outcome.steps[i]?.description})`).join(', ')}.`,
        `The journal is kept at ${outcome.journalPath ?? '(memory)'}. Fix the cause, then run: ${outcome.resume}`,
      ].join('\n');
    }
    case 'refused':
      return `Nothing was changed: ${messageOf(outcome.cause)}`;
  }
}

function messageOf(error: SerializedError | undefined): string {
  if (!error) return 'unknown error';
  const stderr = typeof error.context?.stderr === 'string' && error.context.stderr.trim() ? ` (stderr: ${error.context.stderr.trim().split('\n')[0]})` : '';
  return `${error.message}${stderr}`;
}
