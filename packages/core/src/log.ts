import createDebug from 'debug';

/**
 * Where unwind writes its diagnostic messages: a function taking a
 * printf-style format (`%s`, `%d`, `%o`, `%j`) and its values, like
 * `console.debug` or the `debug` package. `enabled`, when present and false,
 * lets unwind skip building messages nobody reads.
 *
 * Steps get one as `ctx.log`; {@link transaction} and {@link recover} take one
 * as their `logger` option, so an embedding program can route unwind's
 * messages into its own logging.
 *
 * @example
 * ```ts
 * const log: Logger = (format, ...values) => appLogger.debug({ component: 'unwind' }, format, ...values);
 * const tx = transaction('install app', { journal: fileJournal({ root: '/var/lib/app/unwind' }), logger: log });
 * ```
 */
export interface Logger {
  (format: string, ...values: unknown[]): void;
  /** False when nothing would be written. Absent means true. */
  readonly enabled?: boolean;
}

/**
 * The default {@link Logger}: the `debug` package in the `unwind:*`
 * namespace family, silent unless `DEBUG=unwind:*` is set.
 *
 * @example
 * ```ts
 * const log = logger('files'); // namespace unwind:files
 * log('renamed %s', path);
 * ```
 */
export function logger(namespace: string): Logger {
  return createDebug(`unwind:${namespace}`);
}

/**
 * Whether a logger would write anything: a logger without an `enabled`
 * property always does. One that has it writes only while it is truthy:
 * `debug` (4.4) leaves it `undefined`, not `false`, until DEBUG has been set,
 * and treating that as "enabled" built and formatted every event of every
 * step for nobody.
 */
export function isEnabled(log: Logger): boolean {
  return !('enabled' in log) || Boolean(log.enabled);
}
