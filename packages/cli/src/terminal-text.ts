import { errorDetails as progressErrorDetails, errorLine as progressErrorLine } from '@unwind/progress';

/*
 * A journal is data anyone who once ran a transaction (or planted a file) may
 * have written, and a command's output is whatever the command printed: both
 * reach people's terminals through `status`, `log`, `recover` and `apply`.
 * A raw ESC, BEL or C1 byte there is an instruction to the terminal (set the
 * title, clear the screen, move the cursor to fake a line), so human output
 * shows them escaped. JSON escapes C0 itself; printJson escapes DEL and C1.
 */

// C0 (tab and newline too: one field stays one line), DEL and C1.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every control character written as an escape (`\x1b`, `\n`),
 * for one field of a human-readable line.
 *
 * @example
 * ```ts
 * printable('evil\u001b[2J'); // 'evil\\x1b[2J'
 * ```
 */
export function printable(text: string): string {
  return String(text).replace(CONTROL, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * `errorLine` of @unwind/progress, printable.
 *
 * @example
 * ```ts
 * errorLine({ name: 'Error', message: 'boom\u0007' }); // 'Error: boom\\x07' (as progress words it)
 * ```
 */
export function errorLine(error: Parameters<typeof progressErrorLine>[0]): string {
  return printable(progressErrorLine(error));
}

/**
 * `errorDetails` of @unwind/progress, each line printable.
 *
 * @example
 * ```ts
 * for (const line of errorDetails(serialized)) console.error(`  ${line}`);
 * ```
 */
export function errorDetails(error: Parameters<typeof progressErrorDetails>[0]): string[] {
  return progressErrorDetails(error).map(printable);
}

/**
 * Plain data (a transaction event, a serialized error) with every string in
 * it {@link printable}; anything that is not a plain object, array or string
 * is kept as it is.
 *
 * @example
 * ```ts
 * progress(printableData(event)); // the progress display shows escapes, never runs them
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
