// Types only: runTask builds fp-ts's plain Either objects itself, so running a transaction loads no fp-ts module.
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { AbortedError, InvalidInputError, IrreversibleStepError, UnwindError, serializeError, type SerializedError } from '../errors.js';
import type { EventListener } from '../events.js';
import { runCommand, type CommandRunner } from '../exec.js';
import type { Journal, TransactionJournal } from '../journal/journal.js';
import type { JournalRecord } from '../journal/records.js';
import type { Lock } from '../lock.js';
import { logger, type Logger } from '../log.js';
import { decodeInput } from '../codec.js';
import { validateTimerMs } from '../timer.js';
import { packageOf, type AnyStepKind, type ArgsFrom, type RetryPolicy, type Step, type StepHandle } from '../step.js';
import { causeOf, typedCause } from '../cause.js';
import { attempt, attemptOnce } from './attempt.js';
import { LoopSlices } from './loop-slices.js';
import { defaultResumeHint } from './resume-hint.js';
import { contextAt, emitter, record, rollback, runCommits, type Emitter, type EngineEnvironment } from './engine.js';
import type { CommittedOutcome, Outcome, RefusedOutcome, StepReport } from './outcome.js';
import { planSteps, type PlanEntry } from './plan.js';
import { NO_RETRY, StartedSteps } from './started-steps.js';
import { endedReport, unreachedReport } from './step-reports.js';
import { trapSignals } from './signals.js';
import { finishEarlierTransactions } from './unfinished.js';
import type { RecoveredTransaction } from '../recover.js';

const defaultLog = logger('core');

/**
 * Options of {@link transaction}.
 *
 * @example
 * ```ts
 * const options: TransactionOptions = { journal: fileJournal({ root: '/var/lib/app/unwind' }), timeoutMs: 60_000, meta: { version: '1.2.0' } };
 * const tx = transaction('install app', options);
 * ```
 */
export interface TransactionOptions {
  /** Where the transaction is journaled: `fileJournal({ root })` (durable) or `memoryJournal()`. */
  journal: Journal;
  /** Cancels the run; a rollback follows. */
  signal?: AbortSignal;
  /** Turn SIGINT/SIGTERM into a rollback while running. Default true. */
  handleSignals?: boolean;
  /**
   * Called on a third SIGINT/SIGTERM during a run (the first cancels it, the
   * second is ignored so the rollback is not cut short). A command line exits
   * here (e.g. with 130), leaving the rest of the rollback to `recover`.
   * Without it, unwind stops handling signals after the third, so a further
   * one has its usual effect: unwind never exits the process itself.
   */
  onThirdSignal?: (signal: NodeJS.Signals) => void;
  /** Default retries: `do` 0 (it may not be idempotent), `undo` 3, `commit` 3. */
  retry?: { do?: RetryPolicy; undo?: RetryPolicy; commit?: RetryPolicy };
  /** Default timeout of one attempt of any step phase, in ms. Default: none (commands have their own). */
  timeoutMs?: number;
  /** How long a cancelled step may take to stop before the rollback starts anyway. Default 5000 ms. */
  abortGraceMs?: number;
  /** Take the journal's lock (default), skip it (`false`, when the caller serialises), or use a lock the caller holds. */
  lock?: boolean | Lock;
  /** Allow irreversible steps anywhere, not only last. */
  allowIrreversible?: boolean;
  /** Program runner given to steps. Default {@link runCommand}. */
  exec?: CommandRunner;
  /** Extra data written in the `begin` record (shown by `unwind status`). */
  meta?: Record<string, unknown>;
  /** Receives every event. Same as `tx.on(listener)`. */
  onEvent?: EventListener;
  /** How `recover` is run for this journal, quoted in a rollback-failed outcome. */
  resumeHint?: string;
  /**
   * When the journal root holds unfinished transactions, recover them first
   * (under this run's lock) instead of refusing with
   * {@link UnfinishedTransactionError}. The run is still refused if recovery
   * does not finish every one of them.
   */
  recoverFirst?: boolean;
  /** Step kinds `recoverFirst` may meet in older journals, beyond this transaction's own. */
  kinds?: Iterable<AnyStepKind>;
  /**
   * Receives the transaction's diagnostic messages (every event, failures of
   * cleanup) and is every step's `ctx.log`. Default: `debug` in the
   * `unwind:*` namespaces (silent unless `DEBUG=unwind:*`).
   */
  logger?: Logger;
}

type AnyStep = Step<unknown, unknown, unknown>;

/** A step's `verified` record, `seq` and `at` included for append to set (see `forward`). */
function verifiedRecord(step: number): JournalRecord {
  return { kind: 'verified', step, seq: 0, at: 0 };
}

/**
 * A runnable list of steps. Made by {@link transaction}.
 *
 * @example
 * ```ts
 * const tx: Transaction = transaction('install app', { journal: memoryJournal() });
 * tx.add(writeFile({ path: '/etc/app.conf', content: 'port = 80\n' }));
 * for (const entry of await tx.plan()) console.log(entry.description);
 * const outcome = await tx.run();
 * ```
 */
export class Transaction {
  private readonly entries: AnyStep[] = [];
  private readonly finallyActions: Array<(outcome: Outcome) => unknown> = [];
  private readonly listeners = new Set<EventListener>();
  private ran = false;

  constructor(
    readonly name: string,
    private readonly options: TransactionOptions,
  ) {
    if (options.onEvent) this.listeners.add(options.onEvent);
  }

  /**
   * Appends a step. Its arguments may be a function of earlier steps' results.
   *
   * @example
   * ```ts
   * const user = tx.add(ensureUser({ name: 'app' }));
   * tx.add(writeFile((get) => ({ path: `${get(user).home}/.config/app.toml`, content })));
   * ```
   */
  add<A, B, R>(step: Step<A, B, R>): StepHandle<R> {
    if (this.ran) throw new UnwindError('TRANSACTION_STARTED', 'steps cannot be added to a transaction that already ran');
    const index = this.entries.length;
    this.entries.push(step as unknown as AnyStep);
    return { index };
  }

  /** Adds an action that runs on every outcome, after commit or rollback (e.g. removing a temp workspace). */
  finally(action: (outcome: Outcome) => unknown): this {
    this.finallyActions.push(action);
    return this;
  }

  /** Subscribes to events; returns the unsubscribe function. */
  on(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The ordered step descriptions and, where a kind can tell, whether each would change anything. Touches nothing. */
  plan(): Promise<PlanEntry[]> {
    return planSteps(this.entries, this.options.exec ?? runCommand, this.options.logger);
  }

  /**
   * Runs the transaction. Resolves with an {@link Outcome} for every ending:
   * committed, rolled back, rollback failed, or refused (nothing touched).
   */
  async run(): Promise<Outcome> {
    if (this.ran) throw new UnwindError('TRANSACTION_STARTED', 'a transaction runs once; build a new one');
    this.ran = true;
    return new Run(this.name, this.options, this.entries, this.finallyActions, this.listeners).execute();
  }

  /**
   * The fp-ts form of {@link run}: Right for a committed outcome, Left for any other.
   *
   * @example
   * ```ts
   * pipe(tx.runTask(), TE.match((failed) => report(failed), (done) => ok(done)))();
   * ```
   */
  runTask(): TE.TaskEither<Exclude<Outcome, CommittedOutcome>, CommittedOutcome> {
    return () => this.run().then((outcome) => (outcome.status === 'committed' ? { _tag: 'Right', right: outcome } : { _tag: 'Left', left: outcome }));
  }
}

/**
 * Creates a transaction.
 *
 * @example
 * ```ts
 * const tx = transaction('install app', { journal: fileJournal({ root: '/var/lib/app/unwind' }) });
 * tx.add(writeFile({ path: '/etc/app.conf', content: 'port = 80\n' }));
 * tx.add(start({ unit: 'app.service' }));
 * const outcome = await tx.run();
 * console.log(describeOutcome(outcome));
 * ```
 */
export function transaction(name: string, options: TransactionOptions): Transaction {
  if (typeof name !== 'string' || name.trim() === '') throw new InvalidInputError('a transaction needs a name', { name });
  if (!options?.journal) throw new InvalidInputError('a transaction needs a journal: fileJournal({ root }) or memoryJournal()', { name });
  return new Transaction(name, options);
}

class Run {
  /** Each step's report, made when the step ends (or, for a step never reached, when the run does). */
  private readonly reports: StepReport[] = [];
  private readonly emit: Emitter;
  private readonly results: unknown[] = [];
  private readonly started: StartedSteps;
  private readonly controller = new AbortController();
  private readonly startedAt = performance.now();
  private env: EngineEnvironment | undefined;
  private journal: TransactionJournal | undefined;
  private recovered: RecoveredTransaction[] | undefined;
  private readonly log: Logger;

  constructor(
    private readonly name: string,
    private readonly options: TransactionOptions,
    private readonly entries: AnyStep[],
    private readonly finallyActions: Array<(outcome: Outcome) => unknown>,
    listeners: Set<EventListener>,
  ) {
    this.log = options.logger ?? defaultLog;
    this.emit = emitter(listeners, this.log);
    this.started = new StartedSteps(entries, this.results, this.reports);
  }

  /**
   * The reports of the steps the run did not reach (all of them, when it was
   * refused). Each step is described when it is reached, or here. Like the
   * argument checks, it gives the event loop back every slice: for 200,000
   * steps the two held it for 165 ms in one go (bench/core-memory.mjs).
   */
  private async reportUnreached(): Promise<void> {
    const slices = new LoopSlices();
    for (let index = this.reports.length; index < this.entries.length; index++) {
      if (slices.due()) await slices.pause();
      const step = this.entries[index]!;
      this.reports.push(unreachedReport(index, step, firstDescription(step)));
    }
  }

  async execute(): Promise<Outcome> {
    let lock: Lock | undefined;
    let outcome: Outcome;
    try {
      await this.validate();
      lock = this.takeLock();
      if (lock?.tookOverFrom) this.emit({ type: 'lock:stale', path: lock.path, holder: lock.tookOverFrom });
      this.recovered = await finishEarlierTransactions(this.options, this.entries.map((step) => step.kind), lock);
      this.journal = this.options.journal.begin(this.name, this.options.meta);
    } catch (error) {
      await this.reportUnreached();
      const refused = this.refused(error);
      this.releaseLock(lock, refused);
      return this.finish(refused);
    }
    const untrap = this.options.handleSignals === false ? () => {} : trapSignals((signal, count) => this.emit({ type: 'signal', signal, count }), (e) => this.controller.abort(e), this.options.onThirdSignal);
    const onExternalAbort = () => this.controller.abort(new AbortedError('abort signal'));
    if (this.options.signal?.aborted) onExternalAbort();
    this.options.signal?.addEventListener('abort', onExternalAbort, { once: true });
    try {
      this.env = {
        journal: this.journal,
        exec: this.options.exec ?? runCommand,
        log: this.log,
        phase: 'run',
        abortGraceMs: this.options.abortGraceMs ?? 5000,
        defaults: {
          undo: this.options.retry?.undo ?? { retries: 3, minTimeout: 200 },
          commit: this.options.retry?.commit ?? { retries: 3, minTimeout: 200 },
          timeoutMs: this.options.timeoutMs,
        },
        emit: this.emit,
      };
      this.emit({ type: 'transaction:begin', name: this.name, transactionId: this.journal.id, steps: this.entries.length });
      const failure = await this.forward();
      await this.reportUnreached();
      outcome = failure === undefined ? await this.commit() : await this.rollBack(failure);
    } finally {
      this.options.signal?.removeEventListener('abort', onExternalAbort);
      untrap();
    }
    const finished = outcome.status === 'committed' ? outcome.pendingCommits.length === 0 : outcome.status === 'rolled-back' && !outcome.journalIncomplete;
    try {
      this.journal.close(finished && !this.env.journalBroken);
    } catch (error) {
      // The work is done and its ending recorded (or known not to be); a journal that
      // cannot be closed or pruned changes nothing about it, but the caller hears of it.
      this.log('closing the journal failed: %s', (error as Error).message);
      outcome.cleanupErrors.push(serializeError(error));
    }
    this.releaseLock(lock, outcome);
    return this.finish(outcome);
  }

  /** Releases the lock; a failure (a read-only or vanished journal root) is reported in the outcome, never thrown. */
  private releaseLock(lock: Lock | undefined, outcome: Outcome): void {
    if (!lock) return;
    try {
      lock.release();
    } catch (error) {
      this.log('releasing the lock failed: %s', (error as Error).message);
      outcome.cleanupErrors.push(serializeError(error));
    }
  }

  /** Everything that can be checked before the first change. */
  private async validate(): Promise<void> {
    const last = this.entries.length - 1;
    const slices = new LoopSlices();
    validateTimerMs(this.options.timeoutMs, 'the transaction\'s timeoutMs');
    validateTimerMs(this.options.abortGraceMs, 'the transaction\'s abortGraceMs');
    for (let index = 0; index <= last; index++) {
      if (slices.due()) await slices.pause();
      const step = this.entries[index]!;
      const definition = step.kind.definition;
      if (step.options.timeoutMs !== undefined) validateTimerMs(step.options.timeoutMs, `step ${index + 1} (${step.kind.type})'s timeoutMs`);
      if (definition.timeoutMs !== undefined) validateTimerMs(definition.timeoutMs, `the timeoutMs of step kind ${step.kind.type}`);
      if (definition.irreversible && index !== last && !this.options.allowIrreversible) {
        throw new IrreversibleStepError(`step ${index + 1} (${step.kind.type}) cannot be undone and is not last; move it last or pass allowIrreversible`, { step: index, type: step.kind.type });
      }
      if (typeof step.args !== 'function') this.checkArgs(step.kind, step.args, index);
    }
  }

  private checkArgs(kind: AnyStepKind, args: unknown, index: number): unknown {
    const decoded = decodeInput(kind.definition.args, args, `step ${index + 1} (${kind.type}) has invalid arguments`, { step: index, type: kind.type });
    kind.definition.validate?.(decoded);
    return decoded;
  }

  private takeLock(): Lock | undefined {
    if (this.options.lock === false) return undefined;
    if (typeof this.options.lock === 'object') return undefined; // the caller holds it
    return this.options.journal.lock(this.name);
  }

  /** Runs steps in order; returns the error that stopped them, if any. */
  private async forward(): Promise<unknown> {
    const env = this.env!;
    const journal = this.journal!;
    const slices = new LoopSlices();
    const signal = this.controller.signal;
    const abortGraceMs = this.options.abortGraceMs ?? 5000;
    for (let index = 0; index < this.entries.length; index++) {
      const step = this.entries[index]!;
      if (slices.due()) await slices.pause(); // a signal that came meanwhile is handled here
      if (signal.aborted) return signal.reason;
      const definition = step.kind.definition;
      const startedAt = slices.last;
      const computed = typeof step.args === 'function';
      let description = firstDescription(step);
      let args: unknown;
      let before: unknown;
      // prepare's context; `do` gets the same one when it runs once on this signal (see below).
      const context = contextAt(env, index, signal, 1);
      try {
        args = computed ? this.checkArgs(step.kind, (step.args as ArgsFrom<unknown>)(this.reader), index) : step.args;
        if (computed) description = safeDescribe(step.kind, args);
        if (this.emit.active) this.emit({ type: 'step:prepare', step: index, description });
        before = await definition.prepare(args, context);
        // Write-ahead: what undo needs is on disk before the change starts. The runner's records are
        // typed as whole records, `seq` and `at` (append sets them) included, so a kept record holds
        // every field in the object itself, not in a second property store.
        const prepared: JournalRecord = {
          kind: 'prepared',
          step: index,
          type: step.kind.type,
          package: packageOf(definition),
          description,
          args: definition.args.encode(args),
          before: definition.before.encode(before),
          seq: 0,
          at: 0,
        };
        journal.append(prepared, true);
      } catch (error) {
        return this.fail(index, step, description, 0, error, startedAt);
      }
      if (this.emit.active) this.emit({ type: 'step:start', step: index, description });
      let attempts = 0;
      let after: unknown;
      let done = false;
      try {
        const retry = step.options.retry?.do ?? definition.retry?.do ?? this.options.retry?.do;
        const timeoutMs = step.options.timeoutMs ?? definition.timeoutMs ?? this.options.timeoutMs;
        let value: unknown;
        if ((retry?.retries ?? 0) <= 0 && timeoutMs === undefined) {
          // One attempt, no timer: no per-step options, closures or attempt controller.
          value = await attemptOnce(() => definition.do(args, before, context), signal, abortGraceMs);
          attempts = 1;
        } else {
          ({ value, attempts } = await attempt((attemptSignal, n) => definition.do(args, before, contextAt(env, index, attemptSignal, n)), this.attemptOptions(step, index, description, 'do')));
        }
        after = value;
        done = true;
        const verify = definition.verify;
        // Without a check, `verified` follows `done` at once: both go out in one write.
        const doneRecord: JournalRecord = { kind: 'done', step: index, after: definition.after ? definition.after.encode(value) : null, attempts, seq: 0, at: 0 };
        journal.append(doneRecord, verify ? false : 'with-next');
        if (!verify) journal.append(verifiedRecord(index), false);
        if (this.emit.active) this.emit({ type: 'step:done', step: index, description, durationMs: Math.round(performance.now() - startedAt), attempts });
        if (verify) {
          await attempt((attemptSignal, n) => verify(args, before, value, contextAt(env, index, attemptSignal, n)), { ...this.attemptOptions(step, index, description, 'verify'), retry: undefined });
          journal.append(verifiedRecord(index), false);
        }
        this.reports.push(endedReport(index, step, description, 'verified', attempts, Math.round(slices.now() - startedAt)));
        this.started.finished(index, args, before);
        if (this.emit.active) this.emit({ type: 'step:verified', step: index, description });
        this.results[index] = value;
      } catch (error) {
        attempts ||= (error as { attempts?: number }).attempts ?? 1;
        record(env, { kind: 'failed', step: index, error: serializeError(error), attempts }, false);
        const failure = this.fail(index, step, description, attempts, error, startedAt);
        this.started.failed({ index, kind: step.kind, args, before, after, done, retry: step.options.retry ?? NO_RETRY, timeoutMs: step.options.timeoutMs, report: this.reports[index]! });
        return failure;
      }
    }
    return undefined;
  }

  /** Ends step `index` as failed: its report, and the `step:failed` event. Returns what stopped the run. */
  private fail(index: number, step: AnyStep, description: string, attempts: number, error: unknown, startedAt: number): unknown {
    const serialized = serializeError(error);
    const durationMs = Math.round(performance.now() - startedAt);
    this.reports.push(endedReport(index, step, description, 'failed', attempts, durationMs, serialized));
    this.emit({ type: 'step:failed', step: index, description, error: serialized, durationMs });
    return error ?? new Error('step failed without an error');
  }

  private attemptOptions(step: AnyStep, index: number, description: string, phase: 'do' | 'verify') {
    const options = step.options;
    const definition = step.kind.definition;
    return {
      retry: phase === 'do' ? (options.retry?.do ?? definition.retry?.do ?? this.options.retry?.do) : undefined,
      timeoutMs: options.timeoutMs ?? definition.timeoutMs ?? this.options.timeoutMs,
      signal: this.controller.signal,
      abortGraceMs: this.options.abortGraceMs ?? 5000,
      onRetry: (n: number, error: unknown) => this.emit({ type: 'step:retry', step: index, description, attempt: n, error: serializeError(error), phase: 'do' as const }),
      what: () => `step ${index + 1} (${description})`,
    };
  }

  private readonly reader = <R>(handle: StepHandle<R>): R => {
    if (!(handle.index in this.results)) {
      throw new UnwindError('RESULT_UNAVAILABLE', `the result of step ${handle.index + 1} is not available here; a step can read only earlier steps`, { context: { step: handle.index } });
    }
    return this.results[handle.index] as R;
  };

  private async commit(): Promise<Outcome> {
    const env = this.env!;
    // With no commit action to run, nothing happens between the commit point and the end:
    // both records go out in one write and one sync. A power cut that keeps the commit
    // point without the end rolls forward with nothing to do.
    const endsAtOnce = !this.started.anyCommitAction();
    try {
      this.journal!.append({ kind: 'commit-point' }, endsAtOnce ? 'with-next' : true);
      if (endsAtOnce) this.journal!.append({ kind: 'end', status: 'committed' }, true);
    } catch (error) {
      // Without a durable commit point a crash would roll back: do it now, consistently.
      return this.rollBack(error);
    }
    this.emit({ type: 'commit-point' });
    if (endsAtOnce) {
      for (let index = 0; index < this.started.count; index++) this.reports[index]!.status = 'committed';
      return { ...this.base(), status: 'committed', pendingCommits: [] };
    }
    const pendingCommits = await runCommits(env, this.started.all());
    if (pendingCommits.length === 0) record(env, { kind: 'end', status: 'committed' }, true);
    return { ...this.base(), status: 'committed', pendingCommits };
  }

  private async rollBack(cause: unknown): Promise<Outcome> {
    const env = this.env!;
    const reason = serializeError(cause);
    // Not synced: without a commit point, recover() rolls back whether or not this record survives.
    record(env, { kind: 'rollback', reason }, false);
    this.emit({ type: 'rollback:start', reason, steps: this.started.count });
    const { remaining, error } = await rollback(env, this.started.all());
    if (remaining.length > 0) {
      return {
        ...this.base(),
        status: 'rollback-failed',
        cause: causeOf(cause),
        remaining,
        undoError: typedCause(error!),
        resume: this.options.resumeHint ?? defaultResumeHint(this.options.journal.root, this.journal!.id, this.entries),
      };
    }
    record(env, { kind: 'end', status: 'rolled-back' }, true);
    return { ...this.base(), status: 'rolled-back', cause: causeOf(cause), ...(env.journalBroken ? { journalIncomplete: true } : {}) };
  }

  private base() {
    return {
      name: this.name,
      transactionId: this.journal?.id,
      journalPath: this.journal?.path,
      steps: this.reports,
      durationMs: Math.round(performance.now() - this.startedAt),
      finallyErrors: [] as SerializedError[],
      ...(this.recovered?.length ? { recovered: this.recovered } : {}),
      cleanupErrors: [] as SerializedError[],
    };
  }

  private refused(error: unknown): RefusedOutcome {
    return { ...this.base(), status: 'refused', cause: causeOf(error) };
  }

  private async finish(outcome: Outcome): Promise<Outcome> {
    for (const action of this.finallyActions) {
      try {
        await action(outcome);
      } catch (error) {
        outcome.finallyErrors.push(serializeError(error));
      }
    }
    this.emit({ type: 'transaction:end', status: outcome.status, durationMs: outcome.durationMs });
    return outcome;
  }
}

/** A step's description before its arguments are known, when they come from earlier steps. */
function firstDescription(step: AnyStep): string {
  return typeof step.args === 'function' ? `${step.kind.type} (arguments from earlier steps)` : safeDescribe(step.kind, step.args);
}

function safeDescribe(kind: AnyStepKind, args: unknown): string {
  try {
    return kind.definition.describe(args);
  } catch {
    return kind.type;
  }
}
