import { UnwindError } from '@unwind/core';

/**
 * Exit codes of the `unwind` command (docs/cli.md lists them).
 *
 * @example
 * ```ts
 * if (code === EXIT.locked) console.error('another transaction is running');
 * ```
 */
export const EXIT = {
  /** Everything is finished. */
  ok: 0,
  /** A transaction was rolled back (used by programs; `unwind` itself finishes or fails). */
  rolledBack: 1,
  /** A rollback (or commit action) still failed: the journal stays, fix the cause and run recover again. */
  stuck: 2,
  /** A live process holds the journal root's lock; nothing was touched. */
  locked: 3,
  /** Bad input, an unreadable or unsafe root, or a journal that cannot be used; nothing was touched. */
  badInput: 4,
  /** A run was refused: the root holds an unfinished transaction to recover first (used by programs, via `exitCodeOf`). */
  unfinished: 5,
} as const;

/**
 * An error the CLI reports as one line on stderr, with its exit code.
 *
 * @example
 * ```ts
 * throw new CliError('no journal root: pass --root DIR or set UNWIND_ROOT', EXIT.badInput);
 * ```
 */
export class CliError extends UnwindError {
  constructor(
    message: string,
    readonly exitCode: number,
    context: Record<string, unknown> = {},
  ) {
    super('CLI_ERROR', message, { context });
  }
}
