/**
 * Every error unwind raises is an {@link UnwindError}: a class with a stable
 * `name`, a machine-readable `code`, the context it happened in, and whether
 * retrying could help. Errors are data: `toJSON()` is what the journal and the
 * CLI show.
 */
import type { ErrorCode } from './error-codes.js';

/**
 * Context attached to an error: plain JSON values only, so it can be journaled.
 *
 * @example
 * ```ts
 * const context: ErrorContext = { path: '/etc/app.conf', mode: 0o644 };
 * throw new VerificationError('/etc/app.conf does not have mode 0644', context);
 * ```
 */
export type ErrorContext = Record<string, unknown>;

/**
 * Base class of every error unwind raises. Its `code` is one of unwind's
 * `ErrorCode`s; a step kind of your own may raise its own codes by naming
 * them: `class ServerRunningError extends UnwindError<'SERVER_RUNNING'>`.
 *
 * @example
 * ```ts
 * try { await tx.run(); } catch (error) {
 *   if (error instanceof UnwindError) console.error(error.code, error.context);
 * }
 * ```
 */
export class UnwindError<Code extends string = ErrorCode> extends Error {
  /** Stable identifier, e.g. `LOCK_HELD`: one of the `ErrorCode` union for unwind's own errors. */
  readonly code: Code;
  /** What the error is about (paths, names, commands). */
  readonly context: ErrorContext;
  /** Whether retrying the same operation may succeed. */
  readonly retryable: boolean;

  constructor(code: Code, message: string, options: { context?: ErrorContext; retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.context = options.context ?? {};
    this.retryable = options.retryable ?? false;
  }

  /** A JSON-safe description, including the cause chain. */
  toJSON(): SerializedError {
    return serializeError(this);
  }
}

/**
 * The journaled form of an error.
 *
 * @example
 * ```ts
 * const e: SerializedError = serializeError(error);
 * console.error(e.code ?? e.name, e.message, e.cause?.message);
 * ```
 */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  context?: ErrorContext;
  cause?: SerializedError;
}

/**
 * Turns any thrown value into a JSON-safe {@link SerializedError}.
 *
 * @example
 * ```ts
 * serializeError(new Error('boom')) // { name: 'Error', message: 'boom' }
 * ```
 */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) return { name: 'NonError', message: String(error) };
  const out: SerializedError = { name: error.name, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') out.code = code;
  if (error instanceof UnwindError && Object.keys(error.context).length > 0) out.context = error.context;
  if (error.cause !== undefined && depth < 5) out.cause = serializeError(error.cause, depth + 1);
  return out;
}

/**
 * Input that fails validation: a bad name, a path outside the allowed root,
 * arguments that do not match a step kind's codec. Raised before anything is
 * touched.
 *
 * @example
 * ```ts
 * throw new InvalidInputError('user name must not start with "-"', { field: 'name', value: '-rf' });
 * ```
 */
export class InvalidInputError extends UnwindError {
  constructor(message: string, context: ErrorContext = {}) {
    super('INVALID_INPUT', message, { context });
  }
}

/**
 * Another process holds the lock of this journal root. Nothing was touched.
 *
 * @example
 * ```ts
 * // Thrown by acquireLock(); a run or recover() reports it as a cause with code 'LOCK_HELD':
 * if (outcome.status === 'refused' && outcome.cause.code === 'LOCK_HELD') console.error(outcome.cause.holder.pid);
 * ```
 */
export class LockHeldError extends UnwindError {
  /** The holder written in the lock file. */
  readonly holder: LockHolder;
  constructor(lockPath: string, holder: LockHolder) {
    const by = holder.processStart === 'unreadable' ? 'by a file no unwind wrote (larger than a holder can be, or not a regular file): remove it once nothing holds it' : `by pid ${holder.pid} on ${holder.host} since ${holder.acquiredAt}`;
    super('LOCK_HELD', `lock ${lockPath} is held ${by}`, {
      context: { lockPath, ...holder },
    });
    this.holder = holder;
  }
}

/**
 * Who holds a lock, as written in the lock file.
 *
 * @example
 * ```ts
 * const holder = readLock('/var/lib/app/unwind'); // LockHolder & { alive: boolean }, or undefined
 * if (holder) console.log(`pid ${holder.pid} on ${holder.host} since ${holder.acquiredAt} (${holder.purpose ?? 'unknown purpose'})`);
 * ```
 */
export interface LockHolder {
  pid: number;
  host: string;
  /** The process start time (clock ticks since boot, from /proc), used to tell a reused pid apart. */
  processStart: string;
  acquiredAt: string;
  purpose?: string;
}

/**
 * A journal line whose checksum does not match, or which is not a valid record,
 * anywhere but the torn last line. Recovery refuses to act on such a journal.
 *
 * @example
 * ```ts
 * // JournalCorruptError: journal /var/lib/app/unwind/tx/journal.jsonl line 7: checksum mismatch
 * ```
 */
export class JournalCorruptError extends UnwindError {
  constructor(path: string, line: number, reason: string) {
    super('JOURNAL_CORRUPT', `journal ${path} line ${line}: ${reason}; refusing to act on it`, { context: { path, line, reason } });
  }
}

/**
 * A journal written in a format version this code does not read.
 *
 * @example
 * ```ts
 * // UnsupportedJournalFormatError: journal ... has format 9; this version of @unwind/core reads formats 1 and 2
 * ```
 */
export class UnsupportedJournalFormatError extends UnwindError {
  constructor(path: string, format: unknown, supported: readonly number[]) {
    super('JOURNAL_FORMAT', `journal ${path} has format ${JSON.stringify(format)}; this version of @unwind/core reads formats ${supported.join(' and ')}`, {
      context: { path, format, supported },
    });
  }
}

/**
 * A journal names a step type the running program does not know.
 *
 * @example
 * ```ts
 * // UnknownStepTypeError: step type "files.writeFile" is unknown here; register the step kinds of @unwind/files
 * ```
 */
export class UnknownStepTypeError extends UnwindError {
  constructor(type: string, packageName: string | undefined, where?: string) {
    const hint = packageName ? `; register the step kinds of ${packageName}` : '';
    super('UNKNOWN_STEP_TYPE', `step type "${type}" is unknown here${where ? ` (${where})` : ''}${hint}`, {
      context: { type, package: packageName, where },
    });
  }
}

/**
 * A journaled value does not decode with its step kind's codec.
 *
 * @example
 * ```ts
 * // JournalDecodeError: files.writeFile before at journal.jsonl line 3: invalid value ...
 * ```
 */
export class JournalDecodeError extends UnwindError {
  constructor(message: string, context: ErrorContext) {
    super('JOURNAL_DECODE', message, { context });
  }
}

/**
 * Writing or syncing the journal failed. Never retried: after a failed fsync
 * Linux may have dropped the dirty pages, and a second fsync would lie.
 *
 * @example
 * ```ts
 * // JournalWriteError: could not sync /var/lib/app/unwind/tx/journal.jsonl: EIO
 * ```
 */
export class JournalWriteError extends UnwindError {
  constructor(message: string, context: ErrorContext, cause?: unknown) {
    super('JOURNAL_WRITE', message, { context, cause, retryable: false });
  }
}

/**
 * A step's `verify` found that the change does not hold on the real system.
 *
 * @example
 * ```ts
 * throw new VerificationError('file /etc/app.conf does not have the written bytes', { path });
 * ```
 */
export class VerificationError extends UnwindError {
  constructor(message: string, context: ErrorContext = {}) {
    super('VERIFY_FAILED', message, { context });
  }
}

/**
 * A step ran longer than its timeout; its AbortSignal fired.
 *
 * @example
 * ```ts
 * // StepTimeoutError: step 3 (systemd.start app.service) timed out after 30000 ms
 * ```
 */
export class StepTimeoutError extends UnwindError {
  constructor(message: string, context: ErrorContext) {
    super('STEP_TIMEOUT', message, { context, retryable: true });
  }
}

/**
 * The transaction was cancelled: its AbortSignal fired or the process got
 * SIGINT/SIGTERM.
 *
 * @example
 * ```ts
 * // AbortedError: transaction cancelled by SIGINT
 * ```
 */
export class AbortedError extends UnwindError {
  constructor(reason: string) {
    super('ABORTED', `transaction cancelled by ${reason}`, { context: { reason } });
  }
}

/**
 * Wraps an error to say that retrying cannot help.
 *
 * @example
 * ```ts
 * throw new NonRetryableError(new Error('user is protected'));
 * ```
 */
export class NonRetryableError extends UnwindError {
  constructor(cause: unknown) {
    super('NON_RETRYABLE', cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/**
 * A step kind that cannot be undone was placed anywhere but last, without the
 * explicit opt-in.
 *
 * @example
 * ```ts
 * // IrreversibleStepError: step 2 (db.dropTable) cannot be undone and is not last
 * ```
 */
export class IrreversibleStepError extends UnwindError {
  constructor(message: string, context: ErrorContext) {
    super('IRREVERSIBLE_STEP', message, { context });
  }
}

/**
 * Whether an error may be retried: `false` for non-retryable unwind errors,
 * journal write failures and anything marked `retryable: false`.
 *
 * @example
 * ```ts
 * isRetryable(new NonRetryableError('x')) // false
 * ```
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof UnwindError) return error.retryable;
  if (error && typeof error === 'object' && (error as { retryable?: unknown }).retryable === false) return false;
  return true;
}

/**
 * An undo (or commit) found that what it was about to change is no longer
 * what its own step left: someone else changed it while the transaction ran
 * or since it crashed. Nothing was touched; the rollback ends
 * `rollback-failed` so an operator can decide which state wins.
 *
 * @example
 * ```ts
 * throw new UndoConflictError('/etc/app.conf', 'sha256 3f1a…', 'sha256 9bc0…');
 * // UndoConflictError: /etc/app.conf changed since this transaction wrote it (expected sha256 3f1a…, found sha256 9bc0…); not touched
 * ```
 */
export class UndoConflictError extends UnwindError {
  /** The path or account the conflict is about. */
  readonly subject: string;
  /** What the step left there. */
  readonly expected: string;
  /** What is there now. */
  readonly found: string;
  constructor(subject: string, expected: string, found: string, context: ErrorContext = {}) {
    super('UNDO_CONFLICT', `${subject} changed since this transaction changed it (expected ${expected}, found ${found}); not touched`, {
      context: { subject, expected, found, ...context },
    });
    this.subject = subject;
    this.expected = expected;
    this.found = found;
  }
}

/**
 * A journaled value decoded, but is not something this step kind could have
 * written: a path outside its target's directory, a program path, a protected
 * account. Recovery refuses the whole transaction before anything is touched,
 * because whoever can write a journal could otherwise make root act.
 *
 * @example
 * ```ts
 * throw new UntrustedJournalError('files.writeFile before-state names a temp file outside /etc', { path: '/root/.ssh/x' });
 * ```
 */
export class UntrustedJournalError extends UnwindError {
  constructor(message: string, context: ErrorContext = {}) {
    super('UNTRUSTED_JOURNAL', message, { context });
  }
}

/**
 * A directory unwind keeps private state in (a journal root, a transaction
 * directory, a blob, snapshot or staging store) is not safe to trust: it is a
 * symlink, not a directory, not owned by the running user, or writable by
 * group or others (the rule OpenSSH's StrictModes applies). Nothing was touched.
 *
 * @example
 * ```ts
 * // UnsafeDirectoryError: journal root /var/lib/app/unwind is writable by others (mode 0777); refusing to use it
 * ```
 */
export class UnsafeDirectoryError extends UnwindError {
  constructor(path: string, what: string, reason: string) {
    super('UNSAFE_DIRECTORY', `${what} ${path} ${reason}; refusing to use it`, { context: { path, what, reason } });
  }
}

/**
 * Bytes could not be written in full, or synced. Never retried: after a
 * failed fsync Linux may have dropped the dirty pages, and a second fsync
 * would report success for data that is gone.
 *
 * @example
 * ```ts
 * // DurableWriteError: /var/lib/app/unwind/tx/journal.jsonl: wrote 812 of 1024 bytes
 * ```
 */
export class DurableWriteError extends UnwindError {
  constructor(path: string, reason: string, cause?: unknown) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    super('DURABLE_WRITE', `${path}: ${reason}${detail}`, { context: { path, reason }, cause, retryable: false });
  }
}

/**
 * A new transaction was refused because the journal root holds unfinished
 * ones (crashed, or stuck after a failed rollback). Running on top of them
 * could let a later `recover` undo what the new transaction did, or make the
 * new one act on a half-changed machine. Nothing was touched. Finish them with
 * `unwind recover`, or pass `recoverFirst: true` to `transaction()`.
 *
 * @example
 * ```ts
 * if (outcome.status === 'refused' && outcome.cause.code === 'UNFINISHED_TRANSACTION') {
 *   console.error(outcome.cause.message); // names the ids and the recover command
 * }
 * ```
 */
export class UnfinishedTransactionError extends UnwindError {
  /** The unfinished transactions' ids. */
  readonly transactionIds: readonly string[];
  /** The command that finishes them. */
  readonly resume: string;
  constructor(root: string, transactionIds: readonly string[], resume: string, detail?: string) {
    const count = transactionIds.length === 1 ? 'an unfinished transaction' : `${transactionIds.length} unfinished transactions`;
    super('UNFINISHED_TRANSACTION', `journal root ${root} holds ${count} (${transactionIds.join(', ')})${detail ? `; ${detail}` : ''}; finish ${transactionIds.length === 1 ? 'it' : 'them'} first with \`${resume}\`, or run with recoverFirst`, {
      context: { root, transactionIds: [...transactionIds], resume },
    });
    this.transactionIds = transactionIds;
    this.resume = resume;
  }
}
