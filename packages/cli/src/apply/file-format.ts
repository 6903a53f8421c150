import { LONGEST_TIMER_MS, t } from '@unwind/core';

/**
 * The schema version a transaction file is written against, in the schema's
 * `$id` (`…/transaction-file/v1.json`). A file may name it in `$schema`.
 *
 * @example
 * ```ts
 * const file = { $schema: SCHEMA_ID, name: 'install app', steps: [] };
 * ```
 */
export const FORMAT_VERSION = 1;

/**
 * The `$id` of the published JSON Schema of transaction files.
 *
 * @example
 * ```ts
 * schema.$id === SCHEMA_ID; // true
 * ```
 */
export const SCHEMA_ID = `https://unwind.dev/schemas/transaction-file/v${FORMAT_VERSION}.json`;

/**
 * The longest delay a Node timer holds: past 2^31-1 ms setTimeout fires at
 * once, so a longer step timeout or retry delay would time out at once.
 *
 * @example
 * ```ts
 * NUMBER_CODECS.timeout.is(MAX_TIMER_MS + 1); // false
 * ```
 */
export const MAX_TIMER_MS = LONGEST_TIMER_MS;

/** An integer in [min, max]; the name says the range, as problems and the JSON Schema state it. */
function integerIn(min: number, max: number, unit = '') {
  return t.refinement(t.number, (n) => Number.isInteger(n) && n >= min && n <= max, `an integer from ${min} to ${max}${unit}`);
}

/**
 * Codecs of the file's own numbers (timeouts, retry policies); each one's
 * name is the range problems state and the JSON Schema expresses (schema.ts).
 *
 * @example
 * ```ts
 * NUMBER_CODECS.factor.is(Number.NaN); // false
 * ```
 */
export const NUMBER_CODECS = {
  timeout: integerIn(1, MAX_TIMER_MS, ' (ms)'),
  delay: integerIn(0, MAX_TIMER_MS, ' (ms)'),
  // More tries than this is a loop, not a retry policy.
  retries: integerIn(0, 100),
  // Finite (JSON has no NaN or Infinity: the journal would hold null); the delay grows, and not absurdly.
  factor: t.refinement(t.number, (n) => Number.isFinite(n) && n >= 1 && n <= 10, 'a number from 1 to 10'),
};

/** The retry policy of the TypeScript API (`RetryPolicy`), as data. */
const RetryPolicy = t.intersection([t.type({ retries: NUMBER_CODECS.retries }), t.partial({ minTimeout: NUMBER_CODECS.delay, maxTimeout: NUMBER_CODECS.delay, factor: NUMBER_CODECS.factor })], 'RetryPolicy');

/** `{ do?, undo?, commit? }`: retries per phase, as `TransactionOptions.retry` and `StepOptions.retry`. */
const Retry = t.partial({ do: RetryPolicy, undo: RetryPolicy, commit: RetryPolicy }, 'Retry');

/**
 * What every step entry has besides its arguments: the kind's registered
 * type name, an `id` later steps' references use, and the `StepOptions` of
 * the TypeScript API (label, timeoutMs, retry). `args` is checked by the
 * kind's own codec, so here it is only an object.
 *
 * @example
 * ```ts
 * StepEntryCodec.is({ kind: 'files.writeFile', args: { path: '/etc/app.conf', content: '' } }); // true
 * ```
 */
export const StepEntryCodec = t.intersection(
  [
    t.type({ kind: t.string }),
    t.partial({
      /** Arguments, exactly as the kind's TypeScript function takes them. Default `{}`. */
      args: t.UnknownRecord,
      /** Names this step for references: `{ "$result": "ID.field" }` in a later step's arguments. */
      id: t.string,
      label: t.string,
      timeoutMs: NUMBER_CODECS.timeout,
      retry: Retry,
    }),
  ],
  'Step',
);

/**
 * The transaction file without its steps' arguments checked: `name`, the
 * options of `transaction()` that make sense as data, and the steps.
 *
 * @example
 * ```ts
 * TransactionFileCodec.is({ name: 'install app', steps: [{ kind: 'systemd.daemonReload' }] }); // true
 * ```
 */
export const TransactionFileCodec = t.intersection(
  [
    t.type({ name: t.string, steps: t.array(StepEntryCodec) }),
    t.partial({
      /** The schema the file is written against (ignored by apply; editors use it). */
      $schema: t.string,
      /** The journal root (absolute). `--root` wins over it; `$UNWIND_ROOT` is used when neither is given. */
      root: t.string,
      /** Default timeout of one attempt of any step phase, in ms. */
      timeoutMs: NUMBER_CODECS.timeout,
      /** Default retries per phase. */
      retry: Retry,
      /** Recover unfinished transactions on the root first instead of refusing (exit 5). */
      recoverFirst: t.boolean,
      /** Allow irreversible steps anywhere, not only last. */
      allowIrreversible: t.boolean,
    }),
  ],
  'TransactionFile',
);

/**
 * One step of a transaction file.
 *
 * @example
 * ```ts
 * const step: StepEntry = { kind: 'users.ensureUser', id: 'user', args: { name: 'app', system: true } };
 * ```
 */
export type StepEntry = t.TypeOf<typeof StepEntryCodec>;

/**
 * A transaction file as data (after parsing JSON or YAML).
 *
 * @example
 * ```ts
 * const file: TransactionFile = { name: 'install app', steps: [{ kind: 'files.ensureDir', args: { path: '/etc/app' } }] };
 * ```
 */
export type TransactionFile = t.TypeOf<typeof TransactionFileCodec>;

/**
 * The shape of a step `id`: a name that cannot be confused with a path in a reference.
 *
 * @example
 * ```ts
 * STEP_ID.test('config-file'); // true
 * ```
 */
export const STEP_ID = /^[A-Za-z_][A-Za-z0-9_-]*$/;
