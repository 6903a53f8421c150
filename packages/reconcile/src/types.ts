import type { AnyStepKind, Cause, CommandRunner, EventListener, Journal, Lock, Outcome, RetryPolicy, SerializedError, Step } from '@unwind/core';
import type { Problem } from './validate.js';

/**
 * Any step, whatever its types: what a plan returns.
 *
 * @example
 * ```ts
 * const steps: AnyStep[] = [ensureUser({ name: 'web' }), enableLinger({ user: 'web' })];
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStep = Step<any, any, any>;

/**
 * What a plan is asked for: the action, the desired item, the actual one (if
 * any), and for a repair, what drifted.
 *
 * @example
 * ```ts
 * const plan = (c: PlannedChange<Item, Item>) => [ensureUser({ name: c.desired.name })];
 * ```
 */
export interface PlannedChange<D, A> {
  action: 'create' | 'update' | 'repair';
  key: string;
  desired: D;
  actual?: A;
  /** For `repair`: what the drift check found. */
  drift?: string;
}

/**
 * Options of `reconcile`.
 *
 * @example
 * ```ts
 * await reconcile({
 *   name: 'containers',
 *   desired, actual: listUsers, key: (d) => d.name,
 *   plan: (c) => stepsFor(c.desired), planRemoval: (a) => [removeUser({ name: a.name })],
 *   ownership: (a) => a.managed, protect: (k) => k === 'root',
 *   journal: fileJournal({ root: '/var/lib/containers/unwind' }),
 * });
 * ```
 */
export interface ReconcileOptions<D, A> {
  /** Names the run: in transaction names, the lock's purpose and the report. */
  name: string;
  desired: readonly D[];
  /** Reads the actual items: every item that is ours or that a desired key names (so nothing is adopted by accident). Read-only. */
  actual: () => Promise<readonly A[]>;
  /** The key of a desired item: unique; items run in the sorted order of their keys. */
  key: (item: D) => string;
  /** Key of an actual item. Default: `key`. */
  actualKey?: (item: A) => string;
  /** Checks a key; default core's `validateName`. Throw to refuse. */
  validateKey?: (key: string) => void;
  /** Problems the caller found while reading the input (e.g. an unknown file); listed with all others, and they refuse the run. */
  problems?: readonly Problem[];
  /** Problems of one desired item (messages), or throw. All items are checked before any change. */
  validate?: (item: D) => readonly string[] | void;
  /** Whether an owned actual item differs from its desired form (→ update). Default: never; the drift check decides. */
  differs?: (desired: D, actual: A) => boolean;
  /** Read-only drift check of an unchanged item: a reason string (or true) when it drifted and must be repaired. */
  check?: (desired: D, actual: A, signal: AbortSignal) => Promise<string | boolean | undefined>;
  /** The steps that bring one item to its desired state; one transaction. */
  plan: (change: PlannedChange<D, A>) => readonly AnyStep[] | Promise<readonly AnyStep[]>;
  /** The steps that remove an owned, unprotected item no longer desired. Without it nothing is ever removed. */
  planRemoval?: (actual: A) => readonly AnyStep[] | Promise<readonly AnyStep[]>;
  /** Whether an actual item carries the caller's ownership marker. Only such items are changed or removed. */
  ownership: (actual: A) => boolean;
  /** Keys never removed (nor managed, when desired); a string gives the reason. */
  protect?: (key: string, actual?: A) => boolean | string;
  /** Where each item's transaction is journaled. */
  journal: Journal;
  /** A lock the caller already holds on the journal; otherwise `reconcile` takes it for the whole run. */
  lock?: Lock;
  /** Step kinds for recovering unfinished transactions of an earlier, crashed run before planning (file journals). */
  recoverKinds?: Iterable<AnyStepKind>;
  /** Where to write the status file (JSON, atomic). Default `<journal root>/status.json`; `false` for none. */
  statusFile?: string | false;
  /** Program runner given to every step (and to recovery). */
  exec?: CommandRunner;
  /** Default timeout of one step attempt, ms. */
  stepTimeoutMs?: number;
  /** Default retries of each transaction. */
  retry?: { do?: RetryPolicy; undo?: RetryPolicy; commit?: RetryPolicy };
  /** Turn SIGINT/SIGTERM into a rollback of the current item (and skip the rest). Default true. */
  handleSignals?: boolean;
  /** Cancels the run: the current item rolls back, the rest are skipped. */
  signal?: AbortSignal;
  /** Every transaction event, with the item's key. */
  onEvent?: (key: string, ...event: Parameters<EventListener>) => void;
  /** Called after each item finished. */
  onItem?: (result: ItemResult) => void;
}

/**
 * How one item ended.
 *
 * @example
 * ```ts
 * const failed = report.items.filter((i) => i.outcome === 'failed');
 * ```
 */
export type ItemOutcome = 'created' | 'updated' | 'repaired' | 'unchanged' | 'removed' | 'kept-unowned' | 'kept-protected' | 'failed' | 'skipped';

/**
 * One item's line of the report and the status file.
 *
 * @example
 * ```ts
 * // { key: 'web', action: 'repair', outcome: 'repaired', drift: 'service not active', message: 'repaired (service not active)' }
 * ```
 */
export interface ItemResult {
  key: string;
  /** What was attempted. `check`: a drift check only; `keep`: left alone by rule. */
  action: 'create' | 'update' | 'repair' | 'remove' | 'check' | 'keep' | 'none';
  outcome: ItemOutcome;
  /** Plain words. */
  message: string;
  drift?: string;
  /** The item's transaction, when one ran. */
  transaction?: { id: string | undefined; status: Outcome['status']; journalPath: string | undefined; resume?: string };
  /** Each step's description and status, when a transaction ran. */
  steps?: Array<{ description: string; status: string; error?: string }>;
  error?: SerializedError;
  durationMs?: number;
}

/**
 * The result of a run, also written (as JSON) to the status file.
 *
 * @example
 * ```ts
 * const report = await reconcile(options);
 * if (report.cause?.code === 'LOCK_HELD') console.error(`another run (pid ${report.cause.holder.pid}) is working; nothing was changed`);
 * process.exitCode = report.exitCode;
 * ```
 */
export interface ReconcileReport {
  name: string;
  /** `converged`: every item is as desired; `failed`: some item failed (the others still ran); `refused`: nothing changed (invalid input in `problems`, or the lock in `cause`). */
  status: 'converged' | 'failed' | 'refused';
  /** 0 converged; 1 an item failed and was rolled back; 2 an item's rollback failed (see its `resume`); 3 another run holds the lock; 4 refused. */
  exitCode: number;
  /**
   * Why the run was refused before it took its lock, typed as a transaction's
   * `outcome.cause`: `LOCK_HELD` (with `holder`: another run is working;
   * exit code 3) or the journal root cannot be used (e.g. `UNSAFE_DIRECTORY`; exit code 4).
   * Absent otherwise; input problems are in `problems`.
   */
  cause?: Cause;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Every key, in the order processed. */
  items: ItemResult[];
  /** Why the run refused. */
  problems: Problem[];
  /** Unfinished transactions of an earlier run that were recovered first (finished ones are not listed). */
  recovered: Array<{ id: string; name: string; result: string }>;
  /** Where the status file was written. */
  statusFile?: string;
}
