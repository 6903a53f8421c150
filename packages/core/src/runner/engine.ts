import { isEnabled, type Logger } from '../log.js';
import { serializeError, type SerializedError } from '../errors.js';
import type { EventListener, TransactionEvent } from '../events.js';
import type { CommandRunner } from '../exec.js';
import type { TransactionJournal } from '../journal/journal.js';
import type { BlobStore } from '../journal/blobs.js';
import type { JournalRecordBody } from '../journal/records.js';
import type { AnyStepKind, RetryPolicy, StepContext } from '../step.js';
import { attempt } from './attempt.js';
import { LoopSlices } from './loop-slices.js';
import type { StepReport } from './outcome.js';

/** A step that was prepared (journaled), so it may need an undo or a commit action. */
export interface StartedStep {
  index: number;
  kind: AnyStepKind;
  args: unknown;
  before: unknown;
  /** Present once `do` finished. */
  after: unknown;
  done: boolean;
  retry: { do?: RetryPolicy; undo?: RetryPolicy; commit?: RetryPolicy };
  timeoutMs: number | undefined;
  report: StepReport;
}

/** What rollback and commit need from their driver (a run, or a recovery). */
export interface EngineEnvironment {
  journal: TransactionJournal;
  exec: CommandRunner;
  log: Logger;
  phase: 'run' | 'recover';
  abortGraceMs: number;
  defaults: { undo: RetryPolicy; commit: RetryPolicy; timeoutMs: number | undefined };
  emit: Emitter;
  /** Set when a journal write failed: later records are skipped, work goes on. */
  journalBroken?: SerializedError;
}

/** Appends to the journal unless it broke; a failure marks it broken instead of throwing. */
export function record(env: EngineEnvironment, body: JournalRecordBody, sync: boolean): void {
  if (env.journalBroken) return;
  try {
    env.journal.append(body, sync);
  } catch (error) {
    env.journalBroken = serializeError(error);
    env.log('journal broken: %s', (error as Error).message);
  }
}

/** A step's context; the blob store is made only when a step asks for it. */
class Context implements StepContext {
  private store: BlobStore | undefined;
  constructor(
    private readonly env: EngineEnvironment,
    readonly stepIndex: number,
    readonly signal: AbortSignal,
    readonly attempt: number,
    readonly phase: StepContext['phase'],
  ) {}
  get exec() { return this.env.exec; }
  get log() { return this.env.log; }
  get transactionId() { return this.env.journal.id; }
  get blobs(): BlobStore {
    return (this.store ??= this.env.journal.blobs(this.stepIndex));
  }
}

/** Builds a step's context. */
export function contextFor(env: EngineEnvironment, step: { index: number }, signal: AbortSignal, attemptNumber: number, phase: StepContext['phase'] = env.phase): StepContext {
  return new Context(env, step.index, signal, attemptNumber, phase);
}

/** Builds the context of step `index` (no step object needed). */
export function contextAt(env: EngineEnvironment, index: number, signal: AbortSignal, attemptNumber: number): StepContext {
  return new Context(env, index, signal, attemptNumber, env.phase);
}

/**
 * Undoes started steps, newest first. Stops at the first undo that fails
 * after its retries: older steps stay as they are, so the machine is in a
 * state the journal describes exactly, and `recover` resumes from there.
 * Returns the steps not undone (newest first) and the error.
 */
export async function rollback(env: EngineEnvironment, started: StartedStep[]): Promise<{ remaining: number[]; error?: SerializedError }> {
  const order = [...started].sort((a, b) => b.index - a.index);
  await beforeRollback(env, order);
  const slices = new LoopSlices();
  for (let position = 0; position < order.length; position++) {
    if (slices.due()) await slices.pause();
    const step = order[position]!;
    const definition = step.kind.definition;
    const description = step.report.description;
    env.emit({ type: 'undo:start', step: step.index, description });
    const startedAt = performance.now();
    try {
      const { attempts } = await attempt(
        async (signal, n) => {
          const ctx = contextFor(env, step, signal, n);
          await definition.undo(step.args, step.before, step.done ? step.after : undefined, ctx);
          if (definition.verifyUndo) await definition.verifyUndo(step.args, step.before, ctx);
        },
        {
          retry: step.retry.undo ?? definition.retry?.undo ?? env.defaults.undo,
          timeoutMs: step.timeoutMs ?? definition.timeoutMs ?? env.defaults.timeoutMs,
          signal: undefined, // a rollback is never cancelled by the caller's signal
          abortGraceMs: env.abortGraceMs,
          onRetry: (n, error) => env.emit({ type: 'step:retry', step: step.index, description, attempt: n, error: serializeError(error), phase: 'undo' }),
          what: () => `undo of step ${step.index + 1} (${description})`,
        },
      );
      const durationMs = Math.round(performance.now() - startedAt);
      // Synced before the next undo starts: an undo made again after an older step's undo
      // changed the tree under it (a directory removed, a file restored) would find its
      // target gone or changed and end in a conflict (found by the kill-point tests).
      record(env, { kind: 'undone', step: step.index, attempts }, true);
      step.report.status = 'undone';
      step.report.undo = { attempts, durationMs };
      env.emit({ type: 'undo:done', step: step.index, description, durationMs, attempts });
    } catch (error) {
      const serialized = serializeError(error);
      const attempts = (error as { attempts?: number }).attempts ?? 1;
      record(env, { kind: 'undo-failed', step: step.index, error: serialized, attempts }, true);
      step.report.status = 'undo-failed';
      step.report.undo = { attempts, durationMs: Math.round(performance.now() - startedAt), error: serialized };
      env.emit({ type: 'undo:failed', step: step.index, description, error: serialized });
      const remaining = order.slice(position).map((s) => s.index);
      record(env, { kind: 'rollback-failed', remaining }, true);
      return { remaining, error: serialized };
    }
  }
  return { remaining: [] };
}

/** Every started step's `beforeRollback`, before any undo acts; a failure is logged, never stops the rollback. */
async function beforeRollback(env: EngineEnvironment, order: StartedStep[]): Promise<void> {
  for (const step of order) {
    const definition = step.kind.definition;
    if (!definition.beforeRollback) continue;
    try {
      await attempt((signal, n) => definition.beforeRollback!(step.args, step.before, step.done ? step.after : undefined, contextFor(env, step, signal, n)), {
        retry: { retries: 0 },
        timeoutMs: step.timeoutMs ?? definition.timeoutMs ?? env.defaults.timeoutMs,
        signal: undefined,
        abortGraceMs: env.abortGraceMs,
        onRetry: () => {},
        what: () => `record before the rollback of step ${step.index + 1} (${step.report.description})`,
      });
    } catch (error) {
      env.log('before the rollback, step %d (%s) could not record what the transaction left: %s', step.index + 1, step.report.description, (error as Error).message);
    }
  }
}

/**
 * Runs commit actions after the commit point. A failed commit action is
 * retried, then left pending (the journal stays open and `recover` finishes
 * it): past the commit point there is no going back.
 */
export async function runCommits(env: EngineEnvironment, steps: StartedStep[], alreadyDone: ReadonlySet<number> = new Set()): Promise<number[]> {
  const pending: number[] = [];
  for (const step of steps) {
    const definition = step.kind.definition;
    if (!definition.commit || alreadyDone.has(step.index)) {
      step.report.status = 'committed';
      continue;
    }
    const description = step.report.description;
    env.emit({ type: 'commit:start', step: step.index, description });
    try {
      await attempt(
        (signal, n) => definition.commit!(step.args, step.before, step.after, contextFor(env, step, signal, n)),
        {
          retry: step.retry.commit ?? definition.retry?.commit ?? env.defaults.commit,
          timeoutMs: step.timeoutMs ?? definition.timeoutMs ?? env.defaults.timeoutMs,
          signal: undefined,
          abortGraceMs: env.abortGraceMs,
          onRetry: (n, error) => env.emit({ type: 'step:retry', step: step.index, description, attempt: n, error: serializeError(error), phase: 'commit' }),
          what: () => `commit action of step ${step.index + 1} (${description})`,
        },
      );
      record(env, { kind: 'commit-done', step: step.index }, false);
      step.report.status = 'committed';
      env.emit({ type: 'commit:done', step: step.index, description });
    } catch (error) {
      const serialized = serializeError(error);
      record(env, { kind: 'commit-failed', step: step.index, error: serialized }, true);
      step.report.commit = { error: serialized };
      pending.push(step.index);
      env.emit({ type: 'commit:failed', step: step.index, description, error: serialized });
    }
  }
  return pending;
}

/** Emits events; `active` is false when nobody listens, so callers can skip building them. */
export type Emitter = ((event: TransactionEvent) => void) & { readonly active: boolean };

/** Calls listeners; a listener that throws never breaks the transaction. */
export function emitter(listeners: Set<EventListener>, log: Logger): Emitter {
  const emit = (event: TransactionEvent) => {
    if (isEnabled(log)) log('%s %o', event.type, event);
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        log('event listener threw: %s', (error as Error).message);
      }
    }
  };
  return Object.assign(emit, { active: listeners.size > 0 || isEnabled(log) });
}
