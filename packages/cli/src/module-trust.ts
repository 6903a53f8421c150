import { Module, register } from 'node:module';
import { CliError, EXIT } from './errors.js';
import { assertTrustedImport } from './module-file-check.js';
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

let guarding = false;

/**
 * From now on, in this process, every module file Node loads must pass
 * {@link assertTrustedImport}, the rule {@link assertTrustedModuleFile}
 * applies to the module named on the command line: a trusted module that
 * imports or requires a file another user can change (a helper beside it,
 * a package in its `node_modules`, one linked in from a home directory)
 * would run that user's code with this process's privileges. Two guards,
 * since Node has two loaders: a `load` hook (node:module `register`) for
 * everything `import` loads, checked before Node reads the file, so a
 * refused file anywhere in a static import graph stops the graph before
 * any of it runs; and `Module.prototype.load` for everything `require`
 * loads, checked before the file is read. Files loaded before the call
 * (the CLI's own) are not checked again; calling it twice does nothing.
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
  // Beside the built file; run from its TypeScript source (the tests), the built hooks: Node's hooks thread loads JavaScript only.
  register(new URL(import.meta.url.endsWith('.ts') ? '../dist/module-trust-hooks.js' : './module-trust-hooks.js', import.meta.url));
  const prototype = Module.prototype as unknown as { load(this: unknown, filename: string): void };
  const loadFile = prototype.load;
  prototype.load = function load(this: unknown, filename: string): void {
    assertTrustedImport(filename);
    loadFile.call(this, filename);
  };
}
