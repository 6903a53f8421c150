/**
 * @unwind/core — a journaled saga runner that makes a multi-step change to a
 * machine all-or-nothing, and survives crashes.
 *
 * @packageDocumentation
 * @module @unwind/core
 */
export { defineStep, packageOf } from './step.js';
export type { StepKind, StepKindDefinition, JournalPlace, AnyStepKind, Step, StepContext, StepHandle, StepOptions, RetryPolicy, ArgsFrom, ResultReader } from './step.js';
export { transaction, Transaction } from './runner/transaction.js';
export { retrying } from './runner/retrying.js';
export type { RetryingOptions } from './runner/retrying.js';
export type { TransactionOptions } from './runner/transaction.js';
export { exitCodeOf, describeOutcome } from './runner/outcome.js';
export type { Outcome, CommittedOutcome, RolledBackOutcome, RollbackFailedOutcome, RefusedOutcome, StepReport, StepStatus } from './runner/outcome.js';
export type { PlanEntry } from './runner/plan.js';
export type { TransactionEvent, TransactionEventType, EventListener } from './events.js';
export { exitCodeOfRecovery, recover, recoveryRefusal } from './recover.js';
export type { RecoverOptions, RecoveryReport, RecoveredTransaction } from './recover.js';
export { fileJournal, reopenTransactionJournal, listTransactionIds, removeTransaction, adoptReusedJournal, JOURNAL_FILE, TRANSACTION_ID } from './journal/file-journal.js';
export type { ReopenOptions } from './journal/file-journal.js';
export type { FileJournalOptions } from './journal/file-journal.js';
export { memoryJournal } from './journal/memory-journal.js';
export type { Journal, TransactionJournal, Retention } from './journal/journal.js';
export type { BlobStore } from './journal/blobs.js';
export { checkJournaledBlob } from './journal/blobs.js';
export { readJournalFile, parseJournal } from './journal/read.js';
export type { JournalContents } from './journal/read.js';
export { analyzeRecords, listTransactions, unfinishedTransactionIds } from './journal/inspect.js';
export type { TransactionState, JournaledStep, TransactionListing } from './journal/inspect.js';
export { JOURNAL_FORMAT, REUSED_JOURNAL_FORMAT, bindingOf, encodeLine, encodeBoundLine, decodeLine, decodeBoundLine } from './journal/records.js';
export type { JournalRecord, JournalRecordBody, RecordKind, EndStatus } from './journal/records.js';
export { acquireLock, readLock, isHolderAlive, processStartTime } from './lock.js';
export type { Lock, AcquireLockOptions } from './lock.js';
export { runCommandSync, type CommandSyncSpec } from './exec-sync.js';
export { runCommand } from './exec.js';
export { defaultEnv } from './command-preparation.js';
export { CommandError, CommandFailedError, CommandTimeoutError, CommandAbortedError, CommandNotFoundError } from './command-errors.js';
export { findProgram, trustedSearchPath, type FoundProgram } from './program-lookup.js';
export { reuseAnswer } from './reuse-answer.js';
export { signalProcesses, startTimeOf, type ProcessIdentity } from './process-tree.js';
export type { CommandSpec, CommandResult, CommandRunner } from './exec.js';
export { syncDirectory, syncFile, syncDescriptor, writeFully, writeNewFileDurably, makeDirectoryDurably } from './durable.js';
export { onOverlay } from './overlay.js';
export { writeFileAtomically, writeTemporaryFile, renameDurably, symlinkAtomically, removeTemporaryFiles, temporaryNameFor, temporaryPrefixFor } from './durable-replace.js';
export type { FileAttributes, AtomicWriteOptions } from './durable-replace.js';
export { resolveNameByName } from './name-by-name.js';
export { isWithin } from './path-within.js';
export type { NameByNameOptions } from './name-by-name.js';
export { assertPrivateDirectory, assertTrustedDirectory, assertTrustedFile, judgeTrustedDirectory, judgeTrustedFile, isTrustedOwner, lstatIfPresent, makePrivateDirectory, runningUid } from './private-directory.js';
export { mountPointsAt, removeTreeSafely } from './remove-tree.js';
export type { RemoveTreeHooks } from './remove-tree.js';
export { decodeInput, decodeJournaled, explainErrors } from './codec.js';
/**
 * io-ts, re-exported: the codecs a step kind's `args`, `before` and `after`
 * are written with (`t.type`, `t.partial`, `t.union`, `t.literal`,
 * `t.string`, `t.number`, `t.boolean`, `t.null`, `t.array`, `t.record`, ...)
 * and its types (`t.TypeOf`, `t.Type`). Importing it from `@unwind/core`
 * needs no io-ts install of your own and always matches the io-ts version
 * core decodes with.
 *
 * @example
 * ```ts
 * import { defineStep, t } from '@unwind/core';
 * const args = t.type({ path: t.string, line: t.string });
 * type AppendArgs = t.TypeOf<typeof args>;
 * ```
 */
export * as t from 'io-ts';
export { validateName, validateAbsolutePath } from './validate.js';
export { LONGEST_TIMER_MS, validateTimerMs } from './timer.js';
export { O_PATH } from './open-flags.js';
export type { NameRules } from './validate.js';
export { logger } from './log.js';
export type { Logger } from './log.js';
export { withPrograms, programFor } from './programs.js';
export {
  UnwindError,
  InvalidInputError,
  LockHeldError,
  JournalCorruptError,
  UnsupportedJournalFormatError,
  UnknownStepTypeError,
  JournalDecodeError,
  JournalWriteError,
  VerificationError,
  StepTimeoutError,
  AbortedError,
  NonRetryableError,
  IrreversibleStepError,
  UndoConflictError,
  UntrustedJournalError,
  UnsafeDirectoryError,
  DurableWriteError,
  UnfinishedTransactionError,
  serializeError,
  isRetryable,
} from './errors.js';
export type { SerializedError, ErrorContext, LockHolder } from './errors.js';
export { ERROR_CODES, isErrorCode } from './error-codes.js';
export type { ErrorCode } from './error-codes.js';
export { causeOf, typedCause } from './cause.js';
export type { Cause, LockHeldCause, UnfinishedTransactionCause, UndoConflictCause, UnwindCause, ForeignCause } from './cause.js';
