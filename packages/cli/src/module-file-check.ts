import { judgeTrustedFile } from '@unwind/core';

/** The `code` of the error {@link assertTrustedImport} throws: it crosses from the module hooks' thread intact. */
export const UNTRUSTED_IMPORT = 'ERR_UNWIND_UNTRUSTED_IMPORT';

/**
 * Throws an `Error` with code {@link UNTRUSTED_IMPORT} unless the file a
 * module imports or requires, `file`, passes core's `assertTrustedFile`
 * (it and every directory and symlink on the way owned by root or the
 * running user, none writable by group or others but a sticky directory).
 * The same rule as the module named on the command line: every file of its
 * import graph runs with this process's privileges. Its `file` property is
 * the file, its `reason` what is wrong with it. A plain `Error`, not a
 * class of ours: the module hooks' thread passes only a plain error's
 * message and properties back to the import that failed.
 *
 * @example
 * ```ts
 * assertTrustedImport('/opt/tool/lib/helper.js');
 * // Error: imported file /opt/tool/lib/helper.js is owned by uid 1000 (only root or the running user may own it)
 * ```
 */
export function assertTrustedImport(file: string): void {
  const judged = judgeTrustedFile(file, 'imported file');
  if ('real' in judged) return;
  const reason = 'reason' in judged ? judged.reason : `imported file ${file} cannot be resolved (${judged.missing})`;
  throw Object.assign(new Error(reason), { code: UNTRUSTED_IMPORT, file });
}
