/*
 * Text from a journal, a file name another user chose, or what a command
 * printed may hold terminal instructions: a raw ESC, BEL, CSI or C1 byte sets
 * the title, clears the screen or moves the cursor to fake a line. Everything
 * this package prints from an event goes through `printable`, and programs
 * should pass their own untrusted text (`describeOutcome()`, `error.message`)
 * through it before it reaches a terminal.
 */

// C0 (tab and newline too: one field stays one line), DEL and C1.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every control character — C0 (newline and tab too, so one
 * field stays one line), DEL and C1 — written as an escape (`\n`, `\r`, `\t`,
 * `\xNN`), for one field of a human-readable line: the terminal shows
 * `\x1b[2J`, it never runs it. Other characters, backslashes included, are
 * kept, so escaping text twice gives the same text as escaping it once.
 *
 * @example
 * ```ts
 * import { describeOutcome } from '@unwind/core';
 * import { printable } from '@unwind/progress';
 *
 * printable('evil\u001b[2J'); // 'evil\\x1b[2J'
 * // A step description or an error message may quote a file name another user chose:
 * for (const line of describeOutcome(outcome).split('\n')) console.error(printable(line));
 * ```
 */
export function printable(text: string): string {
  return String(text).replace(CONTROL, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Plain data (a transaction event, a serialized error) with every string in
 * it {@link printable}; anything that is not a plain object, array or string
 * is kept as it is.
 *
 * @example
 * ```ts
 * import { printableData } from '@unwind/progress';
 *
 * tx.on((event) => {
 *   const e = printableData(event); // every string escaped, numbers kept
 *   if (e.type === 'step:failed') console.error(`step ${e.step + 1} failed: ${e.error.message}`);
 * });
 * ```
 */
export function printableData<T>(value: T): T {
  if (typeof value === 'string') return printable(value) as T;
  if (Array.isArray(value)) return value.map(printableData) as T;
  if (typeof value !== 'object' || value === null) return value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, printableData(item)])) as T;
}
