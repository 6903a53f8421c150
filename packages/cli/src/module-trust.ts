import * as nodeModule from 'node:module';
import { Module, register, syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT } from './errors.js';
import { assertRequiredFileIsCommonJs, assertTrustedImport } from './module-file-check.js';
import { loadInThread, type LoadInThread } from './module-trust-hooks.js';
import { judgeTrustedFile } from '@unwind/core';

/**
 * Throws a {@link CliError} (exit 4) unless the module file `file` can be
 * changed only by root or the running user: a module the CLI imports runs
 * with its privileges, usually root's (the rule is core's
 * `assertTrustedFile`: the file, every directory above it and every
 * symlink on the way owned by root or the running user, none writable by
 * group or others but a sticky directory). `specifier` is how the command
 * line named it. Returns the file's real path, the one to import, so that a
 * symlink swapped after the check cannot redirect the import.
 *
 * @example
 * ```ts
 * const real = assertTrustedModuleFile('/home/alice/steps.mjs', './steps.mjs');
 * // CliError: refusing to load module ./steps.mjs: module file /home/alice/steps.mjs is owned by uid 1000 …
 * ```
 */
export function assertTrustedModuleFile(file: string, specifier: string): string {
  const judged = judgeTrustedFile(file, 'module file');
  if ('real' in judged) return judged.real;
  if ('missing' in judged) throw new CliError(`cannot load module ${specifier}: ${judged.missing} (${file})`, EXIT.badInput, { module: specifier, file });
  throw moduleRefused(specifier, judged.reason, file);
}

/**
 * The refusal (exit 4) of the module `specifier` names, because of `file`:
 * the module itself, or a file it imports or requires. `reason` says what is
 * wrong with that file.
 *
 * @example
 * ```ts
 * throw moduleRefused('./steps.mjs', 'imported file /opt/tool/lib/h.mjs is owned by uid 1000 …', '/opt/tool/lib/h.mjs');
 * ```
 */
export function moduleRefused(specifier: string, reason: string, file: string | undefined): CliError {
  return new CliError(`refusing to load module ${specifier}: ${reason}; it would run with this process's privileges (only root or the running user may be able to change it)`, EXIT.badInput, { module: specifier, file });
}

/** The `code` of a {@link WorkerRefusedError}. */
export const WORKER_REFUSED = 'ERR_UNWIND_WORKER_REFUSED';

/**
 * Thrown by `new Worker(…)` (node:worker_threads) once
 * {@link guardModuleLoading} is on: a worker thread loads its code with its
 * own loader, which none of the guard's checks reach, so a worker is
 * refused rather than started unchecked.
 *
 * @example
 * ```ts
 * guardModuleLoading();
 * try {
 *   new Worker(new URL('./w.mjs', import.meta.url));
 * } catch (error) {
 *   if (error instanceof WorkerRefusedError) console.error(error.code, error.entry);
 * }
 * ```
 */
export class WorkerRefusedError extends Error {
  override readonly name = 'WorkerRefusedError';
  readonly code = WORKER_REFUSED;
  constructor(
    /** What the worker was to run: its file or URL, or `code` for an `eval` worker. */
    readonly entry: string,
  ) {
    super(`a worker thread (new Worker(${entry})) is refused: nothing a worker loads would be checked`);
  }
}

/** What `new Worker(entry, options)` was asked to run, for the refusal. */
function workerEntry(entry: unknown, options: unknown): string {
  if ((options as { eval?: unknown } | undefined)?.eval) return 'code';
  return entry instanceof URL ? entry.href : String(entry);
}

/** The file a worker runs, when it is one (a path, or a `file:` URL). */
function workerFile(entry: unknown, options: unknown): string | undefined {
  if ((options as { eval?: unknown } | undefined)?.eval) return undefined;
  if (entry instanceof URL) return entry.protocol === 'file:' ? fileURLToPath(entry) : undefined;
  return typeof entry === 'string' && /^(\/|\.\.?\/)/.test(entry) ? resolve(entry) : undefined;
}

/**
 * node:worker_threads' `Worker`, for every module loaded from now on (and every live binding of it), becomes one that
 * refuses, but for a worker running a CommonJS file this process loaded before the guard: the process's own code, outside
 * what the guard is for (esbuild's worker, when the CLI runs under `node --import tsx`).
 */
function refuseWorkers(): void {
  const threads = process.getBuiltinModule('node:worker_threads');
  const preloaded = new Set(Object.keys((Module as unknown as { _cache: Record<string, unknown> })._cache));
  const Original = threads.Worker;
  (threads as { Worker: unknown }).Worker = class Worker extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      const file = workerFile(args[0], args[1]);
      if (file === undefined || !preloaded.has(file)) throw new WorkerRefusedError(workerEntry(args[0], args[1]));
      super(...args);
    }
  };
  syncBuiltinESMExports();
}

type RegisterHooks = (hooks: { load: LoadInThread }) => unknown;

let guarding = false;

/**
 * From now on, in this process, every module file Node loads must pass
 * {@link assertTrustedImport}, the rule {@link assertTrustedModuleFile}
 * applies to the module named on the command line: a trusted module that
 * imports or requires a file another user can change (a helper beside it,
 * a package in its `node_modules`, one linked in from a home directory)
 * would run that user's code with this process's privileges. Files loaded
 * before the call (the CLI's own) are not checked again; calling it twice
 * does nothing.
 *
 * - Where Node has `module.registerHooks` (22.15 and later): a synchronous
 *   `load` hook on this thread, which sees every file `import`, `require`
 *   and `require()` of an ES module load, before Node reads it, so a
 *   refused file anywhere in a static import graph stops the graph before
 *   any of it runs.
 * - Before that (20.19 to 22.14): a `load` hook (node:module `register`)
 *   for what `import` loads, and `Module.prototype.load` for what `require`
 *   loads. Node runs no `register` hooks for the imports of an ES module
 *   that `require()` loads, so such a require is refused (see
 *   `assertRequiredFileIsCommonJs`): import the module instead.
 *
 * Either way `Module.prototype.load` checks every file `require` loads too,
 * and node:worker_threads' `Worker` is replaced by one that throws a
 * {@link WorkerRefusedError}: a worker has its own loader, out of these
 * hooks' reach (only a worker running a CommonJS file loaded before the
 * call, the process's own code such as esbuild's under `--import tsx`, is
 * still started). A child process a module starts is out of reach as well:
 * it is not checked.
 *
 * @example
 * ```ts
 * guardModuleLoading();
 * await import('/opt/tool/steps.js'); // rejects if steps.js imports a file uid 1000 owns
 * ```
 */
export function guardModuleLoading(): void {
  if (guarding) return;
  guarding = true;
  refuseWorkers();
  const registerHooks = (nodeModule as unknown as { registerHooks?: RegisterHooks }).registerHooks;
  const inThread = typeof registerHooks === 'function';
  if (inThread) registerHooks({ load: loadInThread });
  // Beside the built file; run from its TypeScript source (the tests), the built hooks: Node's hooks thread loads JavaScript only.
  else register(new URL(import.meta.url.endsWith('.ts') ? '../dist/module-trust-hooks.js' : './module-trust-hooks.js', import.meta.url));
  const prototype = Module.prototype as unknown as { load(this: unknown, filename: string): void };
  const loadFile = prototype.load;
  prototype.load = function load(this: unknown, filename: string): void {
    assertTrustedImport(filename);
    if (!inThread) assertRequiredFileIsCommonJs(filename);
    loadFile.call(this, filename);
  };
}
