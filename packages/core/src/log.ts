import createDebug, { type Debugger } from 'debug';

/**
 * A debug logger in the `unwind:*` family: `DEBUG=unwind:* node app.js`.
 *
 * @example
 * ```ts
 * const log = logger('files'); // namespace unwind:files
 * log('renamed %s', path);
 * ```
 */
export function logger(namespace: string): Debugger {
  return createDebug(`unwind:${namespace}`);
}
