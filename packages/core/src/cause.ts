import { isErrorCode, type ErrorCode } from './error-codes.js';
import { LockHeldError, UndoConflictError, UnfinishedTransactionError, serializeError, type ErrorContext, type LockHolder, type SerializedError } from './errors.js';

/** What every {@link Cause} has. */
interface CauseBase {
  /** The error's class name, e.g. `LockHeldError`. */
  name: string;
  message: string;
  context?: ErrorContext;
  /** The error that caused this one, serialised. */
  cause?: SerializedError;
}

/**
 * Another live process holds the journal root's lock; nothing was touched.
 *
 * @example
 * ```ts
 * if (outcome.status === 'refused' && outcome.cause.code === 'LOCK_HELD') console.error(`held by pid ${outcome.cause.holder.pid}`);
 * ```
 */
export interface LockHeldCause extends CauseBase {
  code: 'LOCK_HELD';
  /** Who holds the lock, as its lock file says. */
  holder: LockHolder;
}

/**
 * Unfinished transactions under the journal root must be recovered first; nothing was touched.
 *
 * @example
 * ```ts
 * if (outcome.status === 'refused' && outcome.cause.code === 'UNFINISHED_TRANSACTION') console.error(`run: ${outcome.cause.resume}`);
 * ```
 */
export interface UnfinishedTransactionCause extends CauseBase {
  code: 'UNFINISHED_TRANSACTION';
  /** The unfinished transactions' ids. */
  transactionIds: string[];
  /** The command that finishes them. */
  resume: string;
}

/**
 * An undo found its target changed by someone else and left it alone.
 *
 * @example
 * ```ts
 * if (outcome.status === 'rollback-failed' && outcome.undoError.code === 'UNDO_CONFLICT') console.error(`${outcome.undoError.subject} changed: left as it is`);
 * ```
 */
export interface UndoConflictCause extends CauseBase {
  code: 'UNDO_CONFLICT';
  /** The path or account the conflict is about. */
  subject: string;
  /** What the step left there. */
  expected: string;
  /** What is there now. */
  found: string;
}

/**
 * Any other error unwind raised, with its {@link ErrorCode}.
 *
 * @example
 * ```ts
 * if (outcome.status === 'refused' && outcome.cause.code === 'INVALID_INPUT') console.error(outcome.cause.message, outcome.cause.context);
 * ```
 */
export interface UnwindCause extends CauseBase {
  code: Exclude<ErrorCode, 'LOCK_HELD' | 'UNFINISHED_TRANSACTION' | 'UNDO_CONFLICT'>;
}

/**
 * An error unwind did not raise: a system error such as `EACCES` or
 * `ENOSPC` (its code starts with `E`), or anything else a step threw (no
 * `code`; a code of another form is kept as `foreignCode`).
 *
 * @example
 * ```ts
 * if (outcome.status === 'rolled-back' && outcome.cause.code === 'ENOSPC') console.error('the disk is full');
 * ```
 */
export interface ForeignCause extends CauseBase {
  code?: `E${string}`;
  /** The error's own `code`, when it is neither unwind's nor a system error's (e.g. an `UnwindError<'SERVER_RUNNING'>` of your own step kind). */
  foreignCode?: string;
}

/**
 * Why a transaction stopped or was refused, or why an undo failed: a
 * discriminated union on `code`, so a `switch (cause.code)` narrows to the
 * fields each kind of cause has. Plain data (it is journaled and printed as
 * JSON), so compare codes, never `instanceof`.
 *
 * @example
 * ```ts
 * if (outcome.status !== 'committed') {
 *   switch (outcome.cause.code) {
 *     case 'LOCK_HELD': console.error(`another run (pid ${outcome.cause.holder.pid}) is in progress`); break;
 *     case 'UNFINISHED_TRANSACTION': console.error(`finish the earlier run first: ${outcome.cause.resume}`); break;
 *     default: console.error(outcome.cause.message);
 *   }
 * }
 * ```
 */
export type Cause = LockHeldCause | UnfinishedTransactionCause | UndoConflictCause | UnwindCause | ForeignCause;

/**
 * Turns a thrown value into a typed {@link Cause}.
 *
 * @example
 * ```ts
 * causeOf(new LockHeldError('/var/lib/app/unwind/unwind.lock', holder)); // { code: 'LOCK_HELD', holder, ... }
 * causeOf(Object.assign(new Error('no space'), { code: 'ENOSPC' })); // { code: 'ENOSPC', name: 'Error', message: 'no space' }
 * ```
 */
export function causeOf(error: unknown): Cause {
  const serialized = serializeError(error);
  if (error instanceof LockHeldError) return { ...serialized, code: 'LOCK_HELD', holder: error.holder };
  if (error instanceof UnfinishedTransactionError) return { ...serialized, code: 'UNFINISHED_TRANSACTION', transactionIds: [...error.transactionIds], resume: error.resume };
  if (error instanceof UndoConflictError) return { ...serialized, code: 'UNDO_CONFLICT', subject: error.subject, expected: error.expected, found: error.found };
  return typedCause(serialized);
}

/**
 * Types a cause that is already serialised (read from a journal): the
 * fields of the special causes come from its context.
 *
 * @example
 * ```ts
 * const cause = typedCause(record.reason); // a rollback record's reason
 * ```
 */
export function typedCause(serialized: SerializedError): Cause {
  const { code, ...rest } = serialized;
  const context = serialized.context ?? {};
  switch (code) {
    case 'LOCK_HELD': {
      const { pid, host, processStart, acquiredAt, purpose } = context as Partial<LockHolder>;
      return { ...rest, code, holder: { pid: Number(pid ?? 0), host: String(host ?? ''), processStart: String(processStart ?? ''), acquiredAt: String(acquiredAt ?? ''), ...(purpose === undefined ? {} : { purpose }) } };
    }
    case 'UNFINISHED_TRANSACTION':
      return { ...rest, code, transactionIds: Array.isArray(context.transactionIds) ? context.transactionIds.map(String) : [], resume: String(context.resume ?? '') };
    case 'UNDO_CONFLICT':
      return { ...rest, code, subject: String(context.subject ?? ''), expected: String(context.expected ?? ''), found: String(context.found ?? '') };
  }
  if (isErrorCode(code)) return { ...rest, code: code as UnwindCause['code'] };
  if (code === undefined) return rest;
  if (/^E/.test(code)) return { ...rest, code: code as `E${string}` };
  return { ...rest, foreignCode: code };
}
