import { UnwindError, type ErrorContext } from './errors.js';
import type { ErrorCode } from './error-codes.js';
import type { CommandResult } from './exec.js';

// The errors of running a program: what runCommand and runCommandSync throw, and what a custom CommandRunner should throw too.

/**
 * A program exited with a code not in `okExitCodes`, was killed, timed out or
 * could not start. The argv, exit code and stderr are in the context (and in
 * the transaction's report).
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof CommandError) console.error(e.result?.exitCode, e.result?.stderr); }
 * ```
 */
export class CommandError extends UnwindError {
  readonly result: CommandResult | undefined;
  constructor(code: ErrorCode, message: string, result: CommandResult | undefined, options: { retryable?: boolean; cause?: unknown; context?: ErrorContext } = {}) {
    super(code, message, {
      retryable: options.retryable ?? true,
      cause: options.cause,
      context: {
        ...(result ? { argv: result.argv, exitCode: result.exitCode, signal: result.signal, stderr: tail(result.stderr), durationMs: result.durationMs } : {}),
        ...options.context,
      },
    });
    this.result = result;
  }
}

/**
 * The program exited non-zero (or with a code not listed as ok).
 *
 * @example
 * ```ts
 * // In a custom CommandRunner: fail the way runCommand does.
 * if (!(spec.okExitCodes ?? [0]).includes(result.exitCode ?? -1)) throw new CommandFailedError(result);
 * ```
 */
export class CommandFailedError extends CommandError {
  constructor(result: CommandResult, options: { retryable?: boolean } = {}) {
    super('COMMAND_FAILED', `${result.argv.join(' ')} exited with ${result.exitCode ?? result.signal}: ${firstLine(result.stderr) || '(no stderr)'}`, result, options);
  }
}

/**
 * The program ran past its timeout; its process group was killed.
 *
 * @example
 * ```ts
 * await runCommand({ argv: ['sleep', '10'], timeoutMs: 1000 });
 * // CommandTimeoutError: sleep 10 did not finish within 1000 ms; its process group was killed
 * ```
 */
export class CommandTimeoutError extends CommandError {
  constructor(result: CommandResult, timeoutMs: number) {
    super('COMMAND_TIMEOUT', `${result.argv.join(' ')} did not finish within ${timeoutMs} ms; its process group was killed`, result, { context: { timeoutMs } });
  }
}

/**
 * The signal fired; the process group was killed. Not retryable.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const running = runCommand({ argv: ['sleep', '10'], signal: controller.signal });
 * controller.abort(); // running rejects with CommandAbortedError
 * ```
 */
export class CommandAbortedError extends CommandError {
  constructor(result: CommandResult) {
    super('COMMAND_ABORTED', `${result.argv.join(' ')} was cancelled; its process group was killed`, result, { retryable: false });
  }
}

/**
 * The program does not exist or cannot be executed.
 *
 * @example
 * ```ts
 * try { await ctx.exec({ argv: ['rm', '-rf', '--', staging], signal: ctx.signal }); } catch (error) {
 *   if (!(error instanceof CommandNotFoundError)) throw error;
 *   fs.rmSync(staging, { recursive: true, force: true }); // no rm(1) here: fall back
 * }
 * ```
 */
export class CommandNotFoundError extends CommandError {
  constructor(argv: readonly string[], cause: unknown) {
    super('COMMAND_NOT_FOUND', `cannot run ${argv[0]}: ${(cause as Error)?.message ?? cause}`, undefined, {
      retryable: false,
      cause,
      context: { argv },
    });
  }
}

function tail(text: string, max = 2000): string {
  return text.length > max ? `…${text.slice(-max)}` : text;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 300) ?? '';
}
