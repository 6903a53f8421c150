import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { CliError, EXIT } from './errors.js';

/*
 * A module the CLI imports runs with its privileges, usually root's. So the
 * file, and every directory above it, must be changeable by nobody but root
 * or the running user: the ancestor rule of @unwind/core's
 * assertPrivateDirectory. Owned by root or the running user, not writable by
 * group or others (a directory may be, when sticky, like /tmp); a symlink on
 * the way is owned by root or the running user too, and the real path is
 * walked as well as the path as given.
 */

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

/** The effective uid: who, besides root, may own what this process runs. */
function runningUid(): number {
  return process.geteuid?.() ?? process.getuid?.() ?? 0;
}

/**
 * Throws a {@link CliError} (exit 4) unless the module file `file` can be
 * changed only by root or the running user (see above); `specifier` is how
 * the command line named it. Returns the file's real path, the one to import,
 * so that a symlink swapped after the check cannot redirect the import.
 *
 * @example
 * ```ts
 * const real = assertTrustedModuleFile('/home/alice/steps.mjs', './steps.mjs');
 * // CliError: refusing to load module ./steps.mjs: /home/alice/steps.mjs is owned by uid 1000 …
 * ```
 */
export function assertTrustedModuleFile(file: string, specifier: string): string {
  const uid = runningUid();
  const refuse = (reason: string): never => {
    throw new CliError(`refusing to load module ${specifier}: ${reason}; it would run with this process's privileges (only root or the running user, uid ${uid}, may be able to change it)`, EXIT.badInput, { module: specifier, file });
  };
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch (error) {
    throw new CliError(`cannot load module ${specifier}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (${file})`, EXIT.badInput, { module: specifier, file });
  }
  const st = fs.statSync(real);
  if (!st.isFile()) refuse(`${real} is not a regular file`);
  judge(st, real, uid, refuse, false);
  // The path as given (its symlinks are judged by their owner), then the real path.
  for (const start of new Set([file, real])) {
    for (let path = start; ; path = dirname(path)) {
      const entry = fs.lstatSync(path);
      if (entry.isSymbolicLink()) {
        if (entry.uid !== 0 && entry.uid !== uid) refuse(`${path} is a symlink owned by uid ${entry.uid}`);
      } else if (path !== start) judge(entry, path, uid, refuse, true);
      if (dirname(path) === path) break;
    }
  }
  return real;
}

function judge(st: fs.Stats, path: string, uid: number, refuse: (reason: string) => never, directory: boolean): void {
  if (st.uid !== 0 && st.uid !== uid) refuse(`${path} is owned by uid ${st.uid}`);
  const sticky = directory && (st.mode & STICKY) !== 0;
  if (st.mode & GROUP_OR_OTHER_WRITE && !sticky) refuse(`${path} is writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`);
}
