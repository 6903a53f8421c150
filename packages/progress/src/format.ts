import type { SerializedError } from '@unwind/core';
import { printable } from './printable.js';

/**
 * A duration for people: `850 ms`, `4.2 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`.
 *
 * @example
 * ```ts
 * formatDuration(4200) // '4.2 s'
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/**
 * One line for an error: its message, plus the first line of a command's
 * stderr when there was one, {@link printable}: a message or stderr quoting
 * a file name another user chose shows its control characters as escapes.
 *
 * @example
 * ```ts
 * errorLine({ name: 'Error', message: 'boom' }) // 'boom'
 * errorLine({ name: 'Error', message: 'bad\u001b[2J', context: { stderr: 'no\nmore' } }) // 'bad\\x1b[2J (stderr: no)'
 * ```
 */
export function errorLine(error: SerializedError | undefined): string {
  if (!error) return 'unknown error';
  const stderr = typeof error.context?.stderr === 'string' ? error.context.stderr.trim().split('\n')[0] : '';
  return printable(stderr ? `${error.message} (stderr: ${stderr})` : error.message);
}

/**
 * Every detail of an error worth showing a person, one line each: message,
 * code, command, exit code, stderr, and the cause chain, each line
 * {@link printable} (a line break inside a message shows as `\n`).
 *
 * @example
 * ```ts
 * errorDetails(serializeError(e)).forEach((l) => console.log('  ' + l));
 * ```
 */
export function errorDetails(error: SerializedError): string[] {
  return detailLines(error).map(printable);
}

/** {@link errorDetails}, not yet escaped: stderr is split into its own lines first. */
function detailLines(error: SerializedError): string[] {
  const lines = [`${error.name}${error.code ? ` [${error.code}]` : ''}: ${error.message}`];
  const c = error.context ?? {};
  if (Array.isArray(c.argv)) lines.push(`command: ${c.argv.map(String).join(' ')}`);
  else if (typeof c.command === 'string') lines.push(`command: ${c.command}`);
  if (c.exitCode !== undefined) lines.push(`exit code: ${String(c.exitCode)}`);
  if (typeof c.stderr === 'string' && c.stderr.trim()) lines.push(...c.stderr.trim().split('\n').slice(0, 10).map((l) => `stderr: ${l}`));
  if (error.cause) lines.push(...detailLines(error.cause).map((l, i) => (i === 0 ? `caused by ${l}` : l)));
  return lines;
}

/**
 * A count and a word, the word in the plural unless the count is 1.
 *
 * @example
 * ```ts
 * plural(1, 'step') // '1 step'
 * plural(3, 'step') // '3 steps'
 * ```
 */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
