import { join, resolve } from 'node:path';
import { existsSync, lstatSync, renameSync } from 'node:fs';
import { InvalidInputError, LockHeldError, UnknownStepTypeError, UntrustedJournalError, UnwindError, serializeError, type LockHolder, type SerializedError } from './errors.js';
import type { EventListener } from './events.js';
import { runCommand, type CommandRunner } from './exec.js';
import { decodeJournaled } from './codec.js';
import { JOURNAL_FILE, TRANSACTION_ID, adoptReusedJournal, listTransactionIds, removeTransaction, reopenTransactionJournalSliced } from './journal/file-journal.js';
import { analyzeRecordsSliced, type TransactionState } from './journal/inspect.js';
import type { Retention } from './journal/journal.js';
import { REUSED_JOURNAL_FORMAT, type JournalRecord } from './journal/records.js';
import { acquireLock, type Lock } from './lock.js';
import { logger, type Logger } from './log.js';
import { causeOf, type Cause } from './cause.js';
import { assertPrivateDirectory } from './private-directory.js';
import { syncDirectory } from './durable.js';
import { checkJournalShape } from './journal/trust.js';
import { emitter, record, rollback, runCommits, type EngineEnvironment, type StartedStep } from './runner/engine.js';
import { LoopSlices } from './runner/loop-slices.js';
import type { StepReport } from './runner/outcome.js';
import type { AnyStepKind, JournalPlace } from './step.js';

const defaultLog = logger('recover');

/**
 * Options of {@link recover}.
 *
 * @example
 * ```ts
 * const options: RecoverOptions = { root: '/var/lib/app/unwind', kinds: [...filesKinds, ...usersKinds], transactionId: id };
 * const report = await recover(options);
 * ```
 */
export interface RecoverOptions {
  /** The journal root the transactions were run with. */
  root: string;
  /** Every step kind the journals may name (e.g. `[...filesKinds, ...usersKinds]`). */
  kinds: Iterable<AnyStepKind>;
  /** Recover only this transaction. */
  transactionId?: string;
  exec?: CommandRunner;
  onEvent?: EventListener;
  /** A lock on `root` the caller already holds. */
  lock?: Lock;
  /** What to do with the journals of transactions recovery finished. Default `{ keepLast: 20 }`. */
  retention?: Retention;
  /** For crash tests: called after each record recovery appends. */
  afterAppend?: (record: JournalRecord) => void;
  abortGraceMs?: number;
  /**
   * Receives recovery's diagnostic messages and is every step's `ctx.log`.
   * Default: `debug` in the `unwind:*` namespaces (silent unless `DEBUG=unwind:*`).
   */
  logger?: Logger;
}

/**
 * What recovery did with one transaction.
 *
 * @example
 * ```ts
 * const stuck = report.transactions.filter((t) => t.result === 'rollback-failed' || t.result === 'commit-pending');
 * for (const t of stuck) console.error(`${t.name} (${t.id}): ${t.error?.message ?? t.result}`);
 * ```
 */
export interface RecoveredTransaction {
  id: string;
  name: string;
  /** `rolled-back`/`committed`: recovery finished it; `already-finished`: nothing to do; `rollback-failed`/`commit-pending`: still stuck; `error`: its journal could not be used, nothing was touched. */
  result: 'rolled-back' | 'committed' | 'already-finished' | 'rollback-failed' | 'commit-pending' | 'error';
  steps: StepReport[];
  error?: SerializedError;
}

/**
 * The result of {@link recover}.
 *
 * @example
 * ```ts
 * const report: RecoveryReport = await recover({ root: '/var/lib/app/unwind', kinds });
 * for (const t of report.transactions) console.log(t.id, t.result);
 * process.exitCode = report.ok ? 0 : 2;
 * ```
 */
export interface RecoveryReport {
  transactions: RecoveredTransaction[];
  /** True when every transaction is finished now. */
  ok: boolean;
  /**
   * Set when recovery did not start, so nothing was touched: `LOCK_HELD`
   * (a live process holds the root's lock: `holder` names it), `LOCK_ERROR`
   * (the lock could not be taken, e.g. a read-only root), `INVALID_INPUT`.
   * `ok` is false then.
   */
  refused?: Cause;
  /** The lock's holder, when `refused` is `LOCK_HELD` (also `refused.holder`). */
  holder?: LockHolder;
  /** What failed after the work: closing or pruning a journal, releasing the lock. No result changes because of them. */
  cleanupErrors: SerializedError[];
}

/**
 * Completes every unfinished transaction under `root`: rolls it back, or,
 * when its commit point was passed, finishes its commit actions. Takes the
 * root's lock, so it is safe to run twice and concurrently; while another
 * live process holds the lock (a run still going), it touches nothing and
 * reports `refused` with the holder. A journal it cannot use (corrupt,
 * unknown format, unknown step type, undecodable or untrusted values) is
 * reported and left untouched. It never throws for anything the machine
 * does (a read-only or full journal root, a lock it cannot release): that
 * is in the report.
 *
 * @example
 * ```ts
 * import { kinds as fileKinds } from '@unwind/files';
 * const report = await recover({ root: '/var/lib/app/unwind', kinds: fileKinds });
 * if (report.refused) console.error(report.refused.message); // e.g. held by pid 4242
 * process.exitCode = exitCodeOfRecovery(report);
 * ```
 */
export async function recover(options: RecoverOptions): Promise<RecoveryReport> {
  const root = resolve(options.root);
  const log = options.logger ?? defaultLog;
  const cleanupErrors: SerializedError[] = [];
  const refuse = (error: unknown): RecoveryReport => ({
    transactions: [],
    ok: false,
    refused: causeOf(error),
    ...(error instanceof LockHeldError ? { holder: error.holder } : {}),
    cleanupErrors,
  });
  if (options.transactionId !== undefined && !TRANSACTION_ID.test(options.transactionId)) {
    return refuse(new InvalidInputError(`"${options.transactionId}" is not a transaction id`, { transactionId: options.transactionId }));
  }
  if (!existsSync(root)) return { transactions: [], ok: true, cleanupErrors };
  // Whoever can write the root can plant a journal that makes root act: refuse before reading anything.
  try {
    assertPrivateDirectory(root, 'journal root');
  } catch (error) {
    return refuse(error);
  }
  const registry = new Map<string, AnyStepKind>();
  for (const kind of options.kinds) registry.set(kind.type, kind);
  let lock: Lock;
  try {
    lock = options.lock ?? acquireLock(root, { purpose: 'recover' });
  } catch (error) {
    return refuse(error);
  }
  if (lock.tookOverFrom && !options.lock) emitter(new Set(options.onEvent ? [options.onEvent] : []), log)({ type: 'lock:stale', path: lock.path, holder: lock.tookOverFrom });
  try {
    try {
      // A journal a power cut left under the reusable directory's name is listed under its own again.
      adoptReusedJournal(root);
    } catch (error) {
      return refuse(error);
    }
    if (options.transactionId !== undefined && !existsSync(join(root, options.transactionId))) {
      return refuse(new InvalidInputError(`there is no transaction ${options.transactionId} under ${root}`, { root, transactionId: options.transactionId }));
    }
    let ids: string[];
    try {
      ids = options.transactionId ? [options.transactionId] : listTransactionIds(root);
    } catch (error) {
      return refuse(error);
    }
    const transactions: RecoveredTransaction[] = [];
    for (const id of ids) transactions.push(await recoverOne(root, id, registry, options, cleanupErrors));
    return { transactions, ok: transactions.every((t) => t.result === 'rolled-back' || t.result === 'committed' || t.result === 'already-finished'), cleanupErrors };
  } finally {
    if (!options.lock) {
      try {
        lock.release();
      } catch (error) {
        log('releasing the lock failed: %s', (error as Error).message);
        cleanupErrors.push(serializeError(error));
      }
    }
  }
}

/**
 * The conventional exit code of a recovery: 0 every transaction finished,
 * 2 one is still stuck (a rollback or commit action failed again), 3 a live
 * process holds the lock, 4 nothing was touched because the input or a
 * journal could not be used.
 *
 * @example
 * ```ts
 * process.exitCode = exitCodeOfRecovery(await recover({ root, kinds }));
 * ```
 */
export function exitCodeOfRecovery(report: RecoveryReport): number {
  if (report.refused) return report.refused.code === 'LOCK_HELD' ? 3 : 4;
  if (report.transactions.some((t) => t.result === 'rollback-failed' || t.result === 'commit-pending')) return 2;
  return report.ok ? 0 : 4;
}

/**
 * When recovery did not start — another live run holds the lock, the lock
 * could not be taken, bad input — the plain words and the exit code (3 lock
 * held, 4 otherwise) a program answers with; undefined when recovery ran.
 * Nothing was touched in either refusal.
 *
 * @example
 * ```ts
 * const report = await recover({ root, kinds });
 * const refusal = recoveryRefusal(report);
 * if (refusal) { console.error(refusal.message); process.exitCode = refusal.exitCode; }
 * ```
 */
export function recoveryRefusal(report: RecoveryReport): { exitCode: 3 | 4; message: string } | undefined {
  if (!report.refused) return undefined;
  const holder = report.holder;
  if (report.refused.code === 'LOCK_HELD' && holder) {
    const lockPath = typeof report.refused.context?.lockPath === 'string' ? ` ${report.refused.context.lockPath}` : '';
    return {
      exitCode: 3,
      message: `Nothing was changed: another run holds the lock${lockPath} (pid ${holder.pid} on ${holder.host}, since ${holder.acquiredAt}${holder.purpose ? `, ${holder.purpose}` : ''}). Let it finish, then try again.`,
    };
  }
  return { exitCode: report.refused.code === 'LOCK_HELD' ? 3 : 4, message: `Nothing was changed: recovery was refused: ${report.refused.message}` };
}

/**
 * Closes a journal recovery used; a failure is reported, never thrown: the
 * transaction's result is already decided and recorded.
 */
function closeJournal(journal: { close(finished: boolean): void }, finished: boolean, cleanupErrors: SerializedError[], log: Logger): void {
  try {
    journal.close(finished);
  } catch (error) {
    log('closing a journal failed: %s', (error as Error).message);
    cleanupErrors.push(serializeError(error));
  }
}

async function recoverOne(root: string, id: string, registry: Map<string, AnyStepKind>, options: RecoverOptions, cleanupErrors: SerializedError[]): Promise<RecoveredTransaction> {
  const log = options.logger ?? defaultLog;
  try {
    assertPrivateDirectory(join(root, id), 'transaction directory');
  } catch (error) {
    return { id, name: 'unknown', result: 'error', steps: [], error: serializeError(error) };
  }
  if (!existsSync(join(root, id, JOURNAL_FILE))) {
    // Crashed between creating the directory and the journal: nothing was prepared.
    try {
      removeTransaction(root, id);
    } catch (error) {
      return { id, name: 'unknown', result: 'error', steps: [], error: serializeError(error) };
    }
    return { id, name: 'unknown', result: 'rolled-back', steps: [] };
  }
  let journal;
  let state: TransactionState;
  let started: StartedStep[];
  try {
    // Reading and checking a long journal takes a while (half a second for 100,000 steps): the loop is given back meanwhile.
    const slices = new LoopSlices();
    journal = await reopenTransactionJournalSliced(root, id, { retention: options.retention ?? { keepLast: 20 }, ...(options.afterAppend ? { afterAppend: options.afterAppend } : {}) }, () => (slices.due() ? slices.pause() : undefined));
    if (journal.records.length === 0) {
      // Crashed before `begin` reached the disk: nothing was prepared, nothing to undo.
      journal.close(false);
      removeTransaction(root, id);
      return { id, name: 'unknown', result: 'rolled-back', steps: [] };
    }
    state = await analyzeRecordsSliced([...journal.records], false, () => (slices.due() ? slices.pause() : undefined));
    const first = state.records[0];
    if (first?.kind === 'begin' && first.format === REUSED_JOURNAL_FORMAT && first.id !== id && TRANSACTION_ID.test(first.id) && !lstatSync(join(root, first.id), { throwIfNoEntry: false })) {
      // A reused journal a power cut left under another transaction's name (a reused directory's
      // new name is never synced with retention 'remove'; see adoptReusedJournal): given the id it
      // names back, durably, then recovered or closed under it. Finished ones too, so that the
      // history `unwind log` shows names each transaction by its own id.
      journal.close(false);
      renameSync(join(root, id), join(root, first.id));
      syncDirectory(root);
      log('journal %s names transaction %s: renamed to it', id, first.id);
      return await recoverOne(root, first.id, registry, options, cleanupErrors);
    }
    if (state.ended) {
      // Finished: nothing to decode or do (its step kinds need not even be registered), so nothing
      // in it is trusted. It may name another transaction whose id is taken already.
      closeJournal(journal, true, cleanupErrors, log);
      return { id, name: state.name, result: 'already-finished', steps: [] };
    }
    checkJournalShape(state, id, journal.path);
    // Decode everything before touching anything.
    started = [];
    for (const s of state.steps) {
      if (slices.due()) await slices.pause();
      started.push(toStarted(s, registry, journal.path, { root, transactionDirectory: join(root, id), transactionId: id, stepIndex: s.index }));
    }
  } catch (error) {
    if (journal) closeJournal(journal, false, cleanupErrors, log);
    return { id, name: 'unknown', result: 'error', steps: [], error: serializeError(error) };
  }
  const reports = started.map((s) => s.report);
  const env: EngineEnvironment = {
    journal,
    exec: options.exec ?? runCommand,
    log,
    phase: 'recover',
    abortGraceMs: options.abortGraceMs ?? 5000,
    defaults: { undo: { retries: 3, minTimeout: 200 }, commit: { retries: 3, minTimeout: 200 }, timeoutMs: undefined },
    emit: emitter(new Set(options.onEvent ? [options.onEvent] : []), log),
  };
  log('recovering %s (%s): %s', id, state.name, state.recovery);
  if (state.commitPoint) {
    const done = new Set(state.steps.filter((s) => s.commitDone).map((s) => s.index));
    const pending = await runCommits(env, started, done);
    if (pending.length === 0) record(env, { kind: 'end', status: 'committed' }, true);
    closeJournal(journal, pending.length === 0 && !env.journalBroken, cleanupErrors, log);
    return { id, name: state.name, result: pending.length === 0 ? 'committed' : 'commit-pending', steps: reports };
  }
  if (!state.rollbackReason) record(env, { kind: 'rollback', reason: { name: 'Recovery', message: 'recovered an unfinished transaction' } }, false);
  // A set, not a search of the steps for each step: a journal of 100,000 steps made that 5e9 comparisons.
  const undone = new Set(state.steps.filter((s) => s.undone).map((s) => s.index));
  const { remaining, error } = await rollback(env, started.filter((s) => !undone.has(s.index)));
  if (remaining.length === 0) record(env, { kind: 'end', status: 'rolled-back' }, true);
  closeJournal(journal, remaining.length === 0 && !env.journalBroken, cleanupErrors, log);
  return { id, name: state.name, result: remaining.length === 0 ? 'rolled-back' : 'rollback-failed', steps: reports, ...(error ? { error } : {}) };
}

function toStarted(s: TransactionState['steps'][number], registry: Map<string, AnyStepKind>, path: string | undefined, place: JournalPlace): StartedStep {
  const kind = registry.get(s.type);
  if (!kind) throw new UnknownStepTypeError(s.type, s.package, `journal ${path} step ${s.index + 1}`);
  const d = kind.definition;
  const where = { type: s.type, step: s.index, path };
  const args = decodeJournaled(d.args, s.args, `${s.type} args of step ${s.index + 1}`, where);
  const before = decodeJournaled(d.before, s.before, `${s.type} before-state of step ${s.index + 1}`, where);
  const after = s.done && d.after ? decodeJournaled(d.after, s.after, `${s.type} after-state of step ${s.index + 1}`, where) : undefined;
  // The journal is input, not truth: the same validation a caller's input gets, then the kind's own check of what it journaled.
  try {
    d.validate?.(args);
    d.validateJournaled?.(args, before, after, place);
  } catch (error) {
    if (error instanceof UntrustedJournalError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new UntrustedJournalError(`${s.type} step ${s.index + 1} in ${path}: ${reason}`, { ...where, ...(error instanceof UnwindError ? error.context : {}) });
  }
  return {
    index: s.index,
    kind,
    args,
    before,
    after,
    done: s.done,
    retry: {},
    timeoutMs: undefined,
    report: {
      index: s.index,
      type: s.type,
      description: s.description,
      status: s.undone ? 'undone' : s.commitDone ? 'committed' : s.verified ? 'verified' : s.done ? 'done' : 'prepared',
      attempts: s.attempts,
    },
  };
}
