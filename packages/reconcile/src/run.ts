import { dirname, join } from 'node:path';
import { AbortedError, assertTrustedDirectory, causeOf, logger, recover, serializeError, transaction, type Lock, type Outcome, type SerializedError } from '@unwind/core';
import { diff, type DiffEntry } from './diff.js';
import { ItemConflictError } from './errors.js';
import { writeJsonAtomically } from './status.js';
import type { AnyStep, ItemResult, PlannedChange, ReconcileOptions, ReconcileReport } from './types.js';
import { validateDesired, validateSteps, type Problem } from './validate.js';

const log = logger('reconcile');

/** One item's work, decided before anything changes. */
interface Work<D, A> {
  entry: DiffEntry<D, A>;
  action: ItemResult['action'];
  steps: readonly AnyStep[];
  drift?: string;
  /** Settled before the run (conflict, failed check, left alone). */
  result?: ItemResult;
}

const DONE: Record<'create' | 'update' | 'repair' | 'remove', ItemResult['outcome']> = { create: 'created', update: 'updated', repair: 'repaired', remove: 'removed' };

/**
 * Reconciles desired items with actual ones. Under ONE lock for the whole
 * run (while another run holds it, the report is `refused`, exit code 3, its
 * `cause` a `LOCK_HELD` cause naming the holder, and nothing is touched), it:
 *
 * 1. recovers unfinished transactions of a crashed earlier run (with `recoverKinds`);
 * 2. validates every desired item and collects every problem — any problem refuses the run, nothing changed;
 * 3. reads the actual items and diffs them by key, in sorted key order;
 * 4. runs the read-only drift check of each unchanged item, and plans every item's steps,
 *    checking every step's arguments — again before any change;
 * 5. runs ONE transaction per item (create, update, repair, remove), never stopping at a failed item;
 *    removes only items that carry the ownership marker and are not protected; never adopts an
 *    existing item that lacks the marker;
 * 6. writes the status file (atomic JSON) and returns the report; `exitCode` is non-zero if any item failed.
 *
 * @example
 * ```ts
 * const report = await reconcile({
 *   name: 'containers', desired, actual: listManaged, key: (d) => d.name,
 *   plan: (c) => deploySteps(c.desired), planRemoval: (a) => [removeUser({ name: a.name })],
 *   ownership: (a) => a.marked, protect: (k) => k === 'root' || denyList.includes(k),
 *   journal: fileJournal({ root: '/var/lib/containers/unwind' }),
 * });
 * process.exitCode = report.exitCode;
 * ```
 */
export async function reconcile<D, A>(options: ReconcileOptions<D, A>): Promise<ReconcileReport> {
  const startedAt = new Date();
  const report: ReconcileReport = { name: options.name, status: 'converged', exitCode: 0, startedAt: startedAt.toISOString(), finishedAt: '', durationMs: 0, items: [], problems: [], recovered: [] };
  let lock: Lock;
  try {
    // A status file in a directory another user could change is refused before anything is touched, not after the run.
    if (typeof options.statusFile === 'string') assertTrustedDirectory(dirname(options.statusFile), 'status file directory');
    lock = options.lock ?? options.journal.lock(`reconcile ${options.name}`);
  } catch (error) {
    // As tx.run() answers: refused with a typed cause, nothing touched. No status file either: the
    // lock is another run's (or the root cannot be used), and that run writes its own.
    report.status = 'refused';
    report.cause = causeOf(error);
    report.exitCode = report.cause.code === 'LOCK_HELD' ? 3 : 4;
    report.finishedAt = new Date().toISOString();
    report.durationMs = Date.now() - startedAt.getTime();
    return report;
  }
  try {
    await runLocked(options, lock, report);
  } finally {
    report.finishedAt = new Date().toISOString();
    report.durationMs = Date.now() - startedAt.getTime();
    const file = options.statusFile === false ? undefined : (options.statusFile ?? (options.journal.root ? join(options.journal.root, 'status.json') : undefined));
    try {
      if (file) {
        report.statusFile = file;
        writeJsonAtomically(file, report);
      }
    } finally {
      if (!options.lock) lock.release();
    }
  }
  return report;
}

function refuse(report: ReconcileReport, problems: Problem[]): void {
  report.problems.push(...problems);
  report.status = 'refused';
  report.exitCode = 4;
}

async function runLocked<D, A>(options: ReconcileOptions<D, A>, lock: Lock, report: ReconcileReport): Promise<void> {
  if (options.recoverKinds && options.journal.root) {
    const recovered = await recover({ root: options.journal.root, kinds: options.recoverKinds, lock, ...(options.exec ? { exec: options.exec } : {}) });
    if (recovered.refused) return refuse(report, [{ message: `recovering earlier transactions was refused: ${recovered.refused.message}` }]);
    report.recovered = recovered.transactions.filter((t) => t.result !== 'already-finished').map((t) => ({ id: t.id, name: t.name, result: t.result }));
    const stuck = recovered.transactions.filter((t) => !['rolled-back', 'committed', 'already-finished'].includes(t.result));
    if (stuck.length > 0) {
      return refuse(report, stuck.map((t) => ({ message: `unfinished transaction ${t.id} (${t.name}) could not be recovered (${t.result}${t.error ? `: ${t.error.message}` : ''}); run \`unwind recover --root ${options.journal.root}\` after fixing the cause` })));
    }
  }

  const problems = [...(options.problems ?? [])];
  problems.push(...validateDesired(options.desired, { key: options.key, ...(options.validateKey ? { validateKey: options.validateKey } : {}), ...(options.validate ? { validate: options.validate } : {}), ...(options.protect ? { protect: (k: string) => options.protect!(k) } : {}) }));
  if (problems.length > 0) return refuse(report, problems);

  let actual: readonly A[];
  let entries: DiffEntry<D, A>[];
  try {
    actual = await options.actual();
    entries = diff(options.desired, actual, options);
  } catch (error) {
    return refuse(report, [{ message: `reading the actual state failed: ${(error as Error).message}` }]);
  }
  // A desired key that is protected only in the light of the actual item (e.g. a system uid).
  for (const e of entries) {
    const reason = e.desired !== undefined && e.actual !== undefined ? options.protect?.(e.key, e.actual) : undefined;
    if (reason) problems.push({ key: e.key, message: `"${e.key}" is protected (${reason === true ? 'protected' : reason}); it is never managed, whatever the input says` });
  }
  if (problems.length > 0) return refuse(report, problems);

  const signal = options.signal ?? new AbortController().signal;
  const work: Work<D, A>[] = [];
  for (const entry of entries) work.push(await decide(entry, options, signal));
  for (const w of work) problems.push(...validateSteps(w.entry.key, w.steps));
  if (problems.length > 0) return refuse(report, problems);

  let stopped: string | undefined;
  for (const w of work) {
    let result: ItemResult;
    if (w.result) result = w.result;
    else if (stopped) result = skipped(w, stopped);
    else {
      const ran = await runItem(w, options, lock);
      result = ran.result;
      if (ran.signalled) stopped = 'a signal interrupted the run';
    }
    if (!stopped && signal.aborted) stopped = 'the run was cancelled';
    report.items.push(result);
    options.onItem?.(result);
    log('%s: %s', result.key, result.message);
  }
  const failed = report.items.filter((i) => i.outcome === 'failed' || i.outcome === 'skipped');
  if (failed.length > 0) {
    report.status = 'failed';
    report.exitCode = report.items.some((i) => i.transaction?.status === 'rollback-failed') ? 2 : 1;
  }
}

/** Decides one key's work: drift check for unchanged items, plan for changes. Read-only. */
async function decide<D, A>(entry: DiffEntry<D, A>, options: ReconcileOptions<D, A>, signal: AbortSignal): Promise<Work<D, A>> {
  const { key } = entry;
  const settled = (action: ItemResult['action'], outcome: ItemResult['outcome'], message: string, error?: unknown): Work<D, A> => ({
    entry,
    action,
    steps: [],
    result: { key, action, outcome, message, ...(error !== undefined ? { error: serializeError(error) } : {}) },
  });
  switch (entry.kind) {
    case 'conflict': {
      const error = new ItemConflictError(key);
      return settled('none', 'failed', error.message, error);
    }
    case 'keep-unowned':
      return settled('keep', 'kept-unowned', 'not desired, but does not carry the ownership marker: left alone');
    case 'keep-protected':
      return settled('keep', 'kept-protected', `not desired, but protected (${entry.reason}): never removed`);
    case 'remove': {
      if (!options.planRemoval) return settled('keep', 'kept-unowned', 'not desired; removal is not enabled: left alone');
      try {
        return { entry, action: 'remove', steps: await options.planRemoval(entry.actual!) };
      } catch (error) {
        return settled('remove', 'failed', `planning the removal failed: ${(error as Error).message}`, error);
      }
    }
    case 'check': {
      let drift: string | undefined;
      try {
        const verdict = await options.check?.(entry.desired!, entry.actual!, signal);
        drift = verdict === true ? 'drifted' : typeof verdict === 'string' && verdict !== '' ? verdict : undefined;
      } catch (error) {
        return settled('check', 'failed', `the drift check failed: ${(error as Error).message}`, error);
      }
      if (drift === undefined) return settled('check', 'unchanged', 'as desired (checked for drift)');
      return plan({ action: 'repair', key, desired: entry.desired!, actual: entry.actual!, drift }, entry, options, settled);
    }
    case 'create':
    case 'update':
      return plan({ action: entry.kind, key, desired: entry.desired!, ...(entry.actual !== undefined ? { actual: entry.actual } : {}) }, entry, options, settled);
  }
}

async function plan<D, A>(change: PlannedChange<D, A>, entry: DiffEntry<D, A>, options: ReconcileOptions<D, A>, settled: (a: ItemResult['action'], o: ItemResult['outcome'], m: string, e?: unknown) => Work<D, A>): Promise<Work<D, A>> {
  try {
    return { entry, action: change.action, steps: await options.plan(change), ...(change.drift ? { drift: change.drift } : {}) };
  } catch (error) {
    return settled(change.action, 'failed', `planning failed: ${(error as Error).message}`, error);
  }
}

function skipped<D, A>(w: Work<D, A>, why: string): ItemResult {
  return { key: w.entry.key, action: w.action, outcome: 'skipped', message: `not attempted: ${why}` };
}

/** Runs one item's transaction and turns its outcome into the item's result. Never throws. */
async function runItem<D, A>(w: Work<D, A>, options: ReconcileOptions<D, A>, lock: Lock): Promise<{ result: ItemResult; signalled: boolean }> {
  const { key } = w.entry;
  const action = w.action as 'create' | 'update' | 'repair' | 'remove';
  const base = { key, action, ...(w.drift ? { drift: w.drift } : {}) };
  if (w.steps.length === 0) return { result: { ...base, outcome: 'unchanged', message: 'nothing to do' }, signalled: false };
  let outcome: Outcome;
  let signalled = false;
  try {
    const tx = transaction(`${options.name}: ${action} ${key}`, {
      journal: options.journal,
      lock, // the run's lock, held across every item
      ...(options.exec ? { exec: options.exec } : {}),
      ...(options.stepTimeoutMs ? { timeoutMs: options.stepTimeoutMs } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.handleSignals !== undefined ? { handleSignals: options.handleSignals } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      meta: { reconcile: options.name, key, action },
      ...(options.onEvent ? { onEvent: (event) => options.onEvent!(key, event) } : {}),
    });
    tx.on((event) => {
      if (event.type === 'signal') signalled = true;
    });
    for (const step of w.steps) tx.add(step);
    outcome = await tx.run();
  } catch (error) {
    return { result: { ...base, outcome: 'failed', message: `the transaction could not run: ${(error as Error).message}`, error: serializeError(error) }, signalled };
  }
  const result: ItemResult = {
    ...base,
    outcome: outcome.status === 'committed' ? DONE[action] : 'failed',
    message: '',
    transaction: {
      id: outcome.transactionId,
      status: outcome.status,
      journalPath: outcome.journalPath,
      ...(outcome.status === 'rollback-failed' ? { resume: outcome.resume } : {}),
    },
    steps: outcome.steps.map((s) => ({ description: s.description, status: s.status, ...(s.error ? { error: s.error.message } : {}) })),
    durationMs: outcome.durationMs,
  };
  if (outcome.status !== 'committed') result.error = firstError(outcome);
  result.message = messageFor(result, outcome);
  return { result, signalled };
}

function firstError(outcome: Outcome): SerializedError {
  const step = outcome.steps.find((s) => s.error);
  return step?.error ?? ('cause' in outcome ? outcome.cause : serializeError(new AbortedError('unknown')));
}

function messageFor(result: ItemResult, outcome: Outcome): string {
  const what = result.drift ? ` (${result.drift})` : '';
  switch (outcome.status) {
    case 'committed':
      return `${result.outcome}${what}`;
    case 'rolled-back': {
      const failed = outcome.steps.find((s) => s.error !== undefined);
      return `${result.action} failed${failed ? ` at step ${failed.index + 1} (${failed.description})` : ''}: ${result.error?.message}; rolled back, this item is as it was before`;
    }
    case 'rollback-failed':
      return `${result.action} failed: ${result.error?.message}; the rollback did NOT finish: ${outcome.undoError.message}. Resume with: ${outcome.resume}`;
    case 'refused':
      return `${result.action} refused, nothing changed: ${outcome.cause.message}`;
  }
}
