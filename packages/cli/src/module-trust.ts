import { assertTrustedFile, UnsafeDirectoryError } from '@unwind/core';
import { CliError, EXIT } from './errors.js';

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
  try {
    return assertTrustedFile(file, 'module file');
  } catch (error) {
    if (!(error instanceof UnsafeDirectoryError)) throw error;
    const reason = error.message.replace(/; refusing to use it$/, '');
    const missing = /cannot be resolved \((\w+)\)/.exec(reason);
    if (missing) throw new CliError(`cannot load module ${specifier}: ${missing[1]} (${file})`, EXIT.badInput, { module: specifier, file });
    throw new CliError(`refusing to load module ${specifier}: ${reason}; it would run with this process's privileges (only root or the running user may be able to change it)`, EXIT.badInput, { module: specifier, file });
  }
}
