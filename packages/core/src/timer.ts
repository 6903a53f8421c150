import { InvalidInputError } from './errors.js';

/**
 * The longest delay a Node timer keeps (2^31-1 ms, some 24.8 days): a
 * longer one fires at once (with a warning), not never.
 *
 * @example
 * ```ts
 * const timeoutMs = Math.min(wanted, LONGEST_TIMER_MS); // or refuse it: validateTimerMs(wanted, 'timeoutMs')
 * ```
 */
export const LONGEST_TIMER_MS = 2_147_483_647;

/**
 * Throws {@link InvalidInputError} unless `value` is undefined or a number of
 * milliseconds a Node timer can keep: 0 to 2^31-1. A longer "timeout" fires
 * at once — every attempt, command or undo it guards would time out as it
 * starts, in recovery too — so it is refused before anything runs.
 *
 * @example
 * ```ts
 * validateTimerMs(60_000, 'timeoutMs');         // fine
 * validateTimerMs(3_000_000_000, 'timeoutMs');  // throws InvalidInputError
 * ```
 */
export function validateTimerMs(value: number | undefined, what: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > LONGEST_TIMER_MS) {
    throw new InvalidInputError(`${what} must be a number of milliseconds from 0 to ${LONGEST_TIMER_MS} (a Node timer's longest), not ${String(value)}`, { what, value });
  }
}
