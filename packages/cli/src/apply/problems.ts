import { UnwindError } from '@unwind/core';

/**
 * One thing wrong with a transaction file, and where: a JSON pointer into the
 * file (`/steps/2/args/mode`), the step it is in, and the line when known.
 *
 * @example
 * ```ts
 * const problem: Problem = { pointer: '/steps/0/args/path', step: 0, message: 'expected string, got 42' };
 * ```
 */
export interface Problem {
  /** RFC 6901 JSON pointer to the value at fault (`''` is the whole file). */
  pointer: string;
  /** Index of the step it belongs to (0-based), when it is inside `steps`. */
  step?: number;
  message: string;
  /** 1-based line and column in the file, when the parser knows them. */
  line?: number;
  column?: number;
}

/**
 * A transaction file that cannot be run: every problem found, all at once.
 * Nothing was touched (exit 4).
 *
 * @example
 * ```ts
 * try { checkTransactionFile(value, kinds); } catch (e) { if (e instanceof TransactionFileError) for (const p of e.problems) console.error(p.pointer, p.message); }
 * ```
 */
export class TransactionFileError extends UnwindError {
  constructor(
    readonly source: string,
    readonly problems: Problem[],
  ) {
    super('INVALID_TRANSACTION_FILE', `${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was touched`, { context: { source, problems } });
  }
}

/**
 * Builds a JSON pointer from path segments, escaping `~` and `/` (RFC 6901).
 *
 * @example
 * ```ts
 * pointerOf(['steps', 2, 'args', 'mode']); // '/steps/2/args/mode'
 * ```
 */
export function pointerOf(segments: ReadonlyArray<string | number>): string {
  return segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * Splits a JSON pointer into its segments (numbers stay strings).
 *
 * @example
 * ```ts
 * segmentsOf('/steps/2/args/a~1b'); // ['steps', '2', 'args', 'a/b']
 * ```
 */
export function segmentsOf(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * One line per problem, for people: `line 12, /steps/2/args/mode: expected number, got "644"`.
 *
 * @example
 * ```ts
 * for (const line of problemLines(error.problems)) console.error(`  ${line}`);
 * ```
 */
export function problemLines(problems: readonly Problem[]): string[] {
  return problems.map((p) => `${p.line !== undefined ? `line ${p.line}, ` : ''}${p.pointer || '(the file)'}: ${p.message}`);
}
