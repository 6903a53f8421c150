import type * as t from 'io-ts';
import type { Logger } from './log.js';
import type { BlobStore } from './journal/blobs.js';
import type { CommandRunner } from './exec.js';

/**
 * What a step's functions get besides their arguments: the cancellation
 * signal, the command runner, a logger, and the transaction's blob store for
 * backups that are too large to inline in the journal.
 *
 * @example
 * ```ts
 * do: async (a, _before, ctx: StepContext) => {
 *   await ctx.exec({ argv: ['loginctl', 'enable-linger', a.user], signal: ctx.signal, timeoutMs: 30_000 });
 * },
 * ```
 */
export interface StepContext {
  /** Fires on timeout, on cancellation, or when the transaction is aborted. Pass it on. */
  readonly signal: AbortSignal;
  /** The one way to run a program: argv only, timeout, typed errors. */
  readonly exec: CommandRunner;
  /** The transaction's {@link Logger}: the `logger` option, or `debug` in the `unwind:*` namespaces. */
  readonly log: Logger;
  /** Durable storage inside this step's part of the transaction's journal directory. */
  readonly blobs: BlobStore;
  /** The transaction id, e.g. for naming a staging directory. */
  readonly transactionId: string;
  /** The step's index in its transaction. */
  readonly stepIndex: number;
  /** 1 on the first attempt, 2 on the first retry, ... */
  readonly attempt: number;
  /** `run`, `recover` or `plan`: what is driving the step. */
  readonly phase: 'run' | 'recover' | 'plan';
}

/**
 * Where a journaled step lives, for {@link StepKindDefinition.validateJournaled}.
 *
 * @example
 * ```ts
 * validateJournaled: (args, before, _after, where: JournalPlace) => {
 *   if (before.staged && !isInside(before.staged, where.transactionDirectory)) throw new UntrustedJournalError('staging path outside the transaction', { staged: before.staged });
 * },
 * ```
 */
export interface JournalPlace {
  /** The journal root. */
  readonly root: string;
  /** This transaction's directory under the root (absolute, real path). */
  readonly transactionDirectory: string;
  readonly transactionId: string;
  readonly stepIndex: number;
}

/**
 * How many times to retry, and how long to wait between tries.
 *
 * @example
 * ```ts
 * const policy: RetryPolicy = { retries: 3, minTimeout: 1000 };
 * tx.add(removeUser({ name: 'app' }, { retry: { do: policy } }));
 * // Only failures a predicate calls passing are tried again:
 * const onlyTimeouts: RetryPolicy = { retries: 2, retryOn: (error) => error instanceof CommandTimeoutError };
 * ```
 */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** First delay in ms (then doubled, up to `maxTimeout`). */
  minTimeout?: number;
  maxTimeout?: number;
  factor?: number;
  /**
   * Which failures are worth another try; default every retryable one. A
   * failure it answers `false` for fails the phase at once, as it is: for a
   * kind whose command may fail for a passing reason (a bus connection
   * dropped) and for a lasting one (a broken unit file) alike.
   */
  retryOn?: (error: unknown) => boolean;
}

/**
 * The definition of a step kind: data (the codecs) plus functions. See
 * docs/writing-a-step-kind.md.
 *
 * @example
 * ```ts
 * const d: StepKindDefinition<WriteFileArgs, FileBefore, FileAfter> = writeFile.definition;
 * console.log(d.type, d.describe({ path: '/etc/app.conf', content: '' })); // files.writeFile ...
 * ```
 */
export interface StepKindDefinition<A, B, R> {
  /** Stable id written to the journal, `<package>.<name>`, e.g. `files.writeFile`. */
  readonly type: string;
  /** The npm package providing the kind, named when a journal names an unknown type. */
  readonly package?: string;
  /** Codec of what the caller asked for. Decoding it is the first validation. */
  readonly args: t.Type<A, unknown, unknown>;
  /** Codec of the state captured before the change. */
  readonly before: t.Type<B, unknown, unknown>;
  /** Codec of what `do` learned. Omit when `do` returns nothing. */
  readonly after?: t.Type<R, unknown, unknown>;
  /** Semantic validation beyond the codec; throw {@link InvalidInputError}. Runs before anything is touched. */
  readonly validate?: (args: A) => void;
  /**
   * Recovery-time check of journaled values, run after the codecs and
   * `validate` and before any undo or commit acts. A journal is input, not
   * truth: throw {@link UntrustedJournalError} for any before/after value this
   * kind could not have written itself (a temp name that is not the kind's own
   * in the target's directory, a staging or blob path outside the
   * transaction's directory, a protected account).
   */
  readonly validateJournaled?: (args: A, before: B, after: R | undefined, where: JournalPlace) => void;
  /** One human line for plans and logs. */
  readonly describe: (args: A) => string;
  /** READ-ONLY: capture what undo needs. May write blobs into `ctx.blobs`. */
  readonly prepare: (args: A, ctx: StepContext) => Promise<B>;
  /** Make the change. */
  readonly do: (args: A, before: B, ctx: StepContext) => Promise<R>;
  /** Throw if the change does not hold on the real system. */
  readonly verify?: (args: A, before: B, after: R, ctx: StepContext) => Promise<void>;
  /**
   * Runs when a rollback starts (in the run, or in `recover`), before any
   * undo of the transaction acts, for every started step that has it. It
   * must not change the machine: it records in `ctx.blobs` what the
   * transaction left, so that this step's undo, which runs after the undos
   * of the later steps, can tell the transaction's own changes from changes
   * others made afterwards (compare-and-swap for a step that wraps what later
   * steps change, like a snapshot). It may run again on a rollback a
   * recovery resumes: keep the first record. A failure is logged and the
   * rollback goes on; the undo then finds nothing recorded.
   */
  readonly beforeRollback?: (args: A, before: B, after: R | undefined, ctx: StepContext) => Promise<void>;
  /** Take the change back. Idempotent; `after` is undefined when `do` did not finish. */
  readonly undo: (args: A, before: B, after: R | undefined, ctx: StepContext) => Promise<void>;
  /** Throw if the before-state does not hold after `undo`. */
  readonly verifyUndo?: (args: A, before: B, ctx: StepContext) => Promise<void>;
  /** Runs only once the whole transaction passed its commit point: the place for deleting data for good. */
  readonly commit?: (args: A, before: B, after: R, ctx: StepContext) => Promise<void>;
  /** Read-only: would `do` change anything? Used by `plan()`. */
  readonly wouldChange?: (args: A, ctx: StepContext) => Promise<boolean>;
  /** The step cannot be undone: only allowed last, or with `allowIrreversible`. */
  readonly irreversible?: boolean;
  /** Default retries for `do` (only safe when `do` is idempotent) and for `undo`. */
  readonly retry?: { do?: RetryPolicy; undo?: RetryPolicy; commit?: RetryPolicy };
  /** Default timeout of one attempt of `do`, `undo` or `commit`, in ms. */
  readonly timeoutMs?: number;
}

/**
 * A step kind: its definition, callable to make a {@link Step}.
 *
 * @example
 * ```ts
 * const kind: StepKind<WriteFileArgs, FileBefore, FileAfter> = writeFile; // kind.type === 'files.writeFile'
 * tx.add(kind({ path: '/etc/app.conf', content: 'port = 80\n' }, { label: 'config file' }));
 * ```
 */
export interface StepKind<A, B, R> {
  (args: A | ArgsFrom<A>, options?: StepOptions): Step<A, B, R>;
  readonly definition: StepKindDefinition<A, B, R>;
  readonly type: string;
}

/**
 * Any step kind, whatever its types.
 *
 * @example
 * ```ts
 * import { kinds as filesKinds } from '@unwind/files';
 * import { kinds as usersKinds } from '@unwind/users';
 * const kinds: AnyStepKind[] = [...filesKinds, ...usersKinds];
 * const report = await recover({ root: '/var/lib/app/unwind', kinds });
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStepKind = StepKind<any, any, any>;

/**
 * Reads the result of an earlier step, when arguments come from earlier steps.
 *
 * @example
 * ```ts
 * const group = tx.add(ensureGroup({ name: 'app', system: true }));
 * const gidOf = (get: ResultReader) => get(group).gid;
 * tx.add(writeFile((get) => ({ path: '/etc/app.conf', content, mode: 0o640, gid: gidOf(get) })));
 * ```
 */
export type ResultReader = <R>(handle: StepHandle<R>) => R;

/**
 * Arguments computed just before `prepare`, from earlier steps' results.
 *
 * @example
 * ```ts
 * const user = tx.add(ensureUser({ name: 'app', createHome: true }));
 * const args: ArgsFrom<WriteFileArgs> = (get) => ({ path: `${get(user).home}/.profile`, content: '' });
 * tx.add(writeFile(args));
 * ```
 */
export type ArgsFrom<A> = (results: ResultReader) => A;

/**
 * Per-step overrides.
 *
 * @example
 * ```ts
 * tx.add(removeUser({ name: 'app' }, { label: 'delete the account', timeoutMs: 120_000, retry: { do: { retries: 3, minTimeout: 1000 } } }));
 * ```
 */
export interface StepOptions {
  /** Retries of this step (override the kind's). */
  retry?: { do?: RetryPolicy; undo?: RetryPolicy; commit?: RetryPolicy };
  /** Timeout of one attempt, in ms. */
  timeoutMs?: number;
  /** A label for logs and reports. */
  label?: string;
}

/**
 * A step: a kind bound to arguments. Add it to a transaction with `tx.add`.
 *
 * @example
 * ```ts
 * const steps: Array<Step<any, any, any>> = [ensureGroup({ name: 'app' }), ensureUser({ name: 'app', group: 'app' })];
 * for (const step of steps) tx.add(step);
 * ```
 */
export interface Step<A, B, R> {
  readonly kind: StepKind<A, B, R>;
  readonly args: A | ArgsFrom<A>;
  readonly options: StepOptions;
}

/**
 * Returned by `tx.add`; pass it to the reader of a later step's arguments.
 *
 * @example
 * ```ts
 * const user = tx.add(ensureUser({ name: 'app' })); // StepHandle of ensureUser's result
 * tx.add(writeFile((get) => ({ path: `${get(user).home}/.config/app.toml`, content })));
 * ```
 */
export interface StepHandle<R> {
  readonly index: number;
  /** Phantom: the result type. */
  readonly __result?: R;
}

/**
 * Defines a step kind.
 *
 * @example
 * ```ts
 * import * as t from 'io-ts';
 * import { defineStep } from '@unwind/core';
 *
 * export const setFlag = defineStep({
 *   type: 'demo.setFlag',
 *   args: t.type({ path: t.string }),
 *   before: t.type({ existed: t.boolean }),
 *   describe: (a) => `create flag ${a.path}`,
 *   prepare: async (a) => ({ existed: await exists(a.path) }),
 *   do: async (a) => { await fs.writeFile(a.path, ''); },
 *   verify: async (a) => { await fs.access(a.path); },
 *   undo: async (a, b) => { if (!b.existed) await fs.rm(a.path, { force: true }); },
 * });
 *
 * tx.add(setFlag({ path: '/tmp/flag' }));
 * ```
 */
export function defineStep<A, B, R = void>(definition: StepKindDefinition<A, B, R>): StepKind<A, B, R> {
  if (!/^[A-Za-z][\w-]*(\.[A-Za-z][\w-]*)+$/.test(definition.type)) {
    throw new TypeError(`step type "${definition.type}" must look like "<package>.<name>"`);
  }
  const kind = ((args: A | ArgsFrom<A>, options: StepOptions = {}) => ({ kind, args, options })) as StepKind<A, B, R>;
  Object.defineProperty(kind, 'definition', { value: definition, enumerable: true });
  Object.defineProperty(kind, 'type', { value: definition.type, enumerable: true });
  return kind;
}

/**
 * The package that provides a step type: the kind's `package`, or `@unwind/<prefix>` by convention.
 *
 * @example
 * ```ts
 * packageOf(writeFile.definition); // '@unwind/files'
 * packageOf({ type: 'demo.setFlag' }); // '@unwind/demo'
 * ```
 */
export function packageOf(definition: Pick<StepKindDefinition<unknown, unknown, unknown>, 'type' | 'package'>): string {
  return definition.package ?? `@unwind/${definition.type.split('.')[0]}`;
}
