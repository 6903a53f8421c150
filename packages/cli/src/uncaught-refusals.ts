import { EXIT } from './errors.js';
import { RequiredEsModuleError, UNTRUSTED_IMPORT } from './module-file-check.js';
import { WorkerRefusedError } from './module-trust.js';

/** The module guard's refusals the CLI has already reported (and answered with exit 4). */
const reported = new WeakSet<object>();

/**
 * Notes that the CLI reported `error`, one of the module guard's refusals:
 * when Node reports it a second time, as an uncaught exception, it is not
 * reported again (see {@link answerUncaughtExceptions}).
 *
 * @example
 * ```ts
 * catch (error) { markRefusalReported(error); throw new CliError(`refusing to load module ${specifier}: ${error.message}`, EXIT.badInput); }
 * ```
 */
export function markRefusalReported(error: unknown): void {
  if (typeof error === 'object' && error !== null) reported.add(error);
}

/** Whether `error` is the module guard's: a file another user can change, a require() of an ES module, a worker. */
function isGuardRefusal(error: unknown): boolean {
  return error instanceof RequiredEsModuleError || error instanceof WorkerRefusedError || (error as { code?: unknown } | null)?.code === UNTRUSTED_IMPORT;
}

/**
 * How the `unwind` program answers an exception nothing caught. Node 20
 * reports an error thrown while an ES module imports a CommonJS file a
 * second time, as an uncaught exception, after the import has already
 * rejected with it: a refused `require` there made the program print the
 * refusal, then die with exit 1 instead of 4. So:
 * - a guard refusal the CLI already reported is that echo: nothing of the
 *   refused file ran, and the exit code stays the CLI's (4);
 * - a guard refusal it did not report (a module that requires an
 *   untrusted file later, from a timer) is printed, and the program exits 4
 *   at once: the file was not loaded, and nothing more of that module runs;
 * - anything else is an internal error, printed with its stack: exit 70,
 *   as for an error the CLI's own promise rejects with.
 *
 * @example
 * ```ts
 * answerUncaughtExceptions(); // in the program's entry, before anything is loaded
 * ```
 */
export function answerUncaughtExceptions(): void {
  process.on('uncaughtException', (error) => {
    if (isGuardRefusal(error)) {
      if (reported.has(error)) return;
      process.stderr.write(`unwind: error: refusing to load a module's file: ${(error as Error).message}\n`);
      process.exit(EXIT.badInput);
    }
    process.stderr.write(`unwind: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(70);
  });
}
