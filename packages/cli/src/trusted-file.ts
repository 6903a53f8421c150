import { assertTrustedFile, UnsafeDirectoryError } from '@unwind/core';

/**
 * Core's `assertTrustedFile` for a file the CLI acts on (a module it
 * imports, a transaction file it applies): the file's real path, or what
 * is wrong with it, `{ reason }`, worded to follow "refusing to …: ", or
 * `{ missing }` (the error code) when the path does not resolve. Any other
 * error is thrown.
 *
 * @example
 * ```ts
 * const judged = judgeTrustedFile('/home/alice/install.yaml', 'transaction file');
 * // { reason: 'transaction file /home/alice/install.yaml is owned by uid 1000 (only root or the running user may own it)' }
 * ```
 */
export function judgeTrustedFile(file: string, what: string): { real: string } | { reason: string } | { missing: string } {
  try {
    return { real: assertTrustedFile(file, what) };
  } catch (error) {
    if (!(error instanceof UnsafeDirectoryError)) throw error;
    const reason = String(error.context.reason);
    const missing = /^cannot be resolved \((\w+)\)/.exec(reason);
    if (missing) return { missing: missing[1]! };
    return { reason: `${what} ${String(error.context.path)} ${reason}` };
  }
}
