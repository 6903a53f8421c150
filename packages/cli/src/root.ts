import * as fs from 'node:fs';
import { resolve } from 'node:path';
import { TRANSACTION_ID, listTransactionIds } from '@unwind/core';
import { CliError, EXIT } from './errors.js';

/**
 * The journal root: `--root`, else `$UNWIND_ROOT`, else an error asking for
 * one; a relative one is taken from the command's working directory `cwd`.
 *
 * @example
 * ```ts
 * const root = resolveRoot(options.root); // '/var/lib/app/unwind'
 * ```
 */
export function resolveRoot(option: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const root = option ?? (env.UNWIND_ROOT || undefined);
  if (root === undefined || root === '') throw new CliError('no journal root: pass --root DIR or set UNWIND_ROOT', EXIT.badInput);
  return resolve(cwd, root);
}

/**
 * Checks that the journal root can be read (and, with `write`, changed),
 * naming the problem plainly. Returns false when it does not exist.
 */
export function checkRoot(root: string, write = false): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    throw new CliError(`cannot read journal root ${root}: ${describeErrno(error)}`, EXIT.badInput, { root, code });
  }
  if (!stat.isDirectory()) throw new CliError(`journal root ${root} is not a directory`, EXIT.badInput, { root });
  try {
    fs.accessSync(root, fs.constants.R_OK | fs.constants.X_OK | (write ? fs.constants.W_OK : 0));
  } catch (error) {
    throw new CliError(`cannot ${write ? 'use' : 'read'} journal root ${root}: ${describeErrno(error)}${process.getuid?.() !== 0 ? ' (run as the user that owns it, e.g. root)' : ''}`, EXIT.badInput, { root });
  }
  return true;
}

/** `permission denied (EACCES)` rather than Node's long message. */
export function describeErrno(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const words: Record<string, string> = { EACCES: 'permission denied', EPERM: 'operation not permitted', ENOENT: 'no such file or directory', ENOTDIR: 'not a directory', EIO: 'input/output error' };
  return e.code && words[e.code] ? `${words[e.code]} (${e.code})` : (e.message ?? String(error));
}

/** Refuses a TXID argument that cannot name a transaction (checked before the root is even looked at). */
export function checkTransactionArgument(wanted: string): void {
  if (!/^[A-Za-z0-9-]+$/.test(wanted)) throw new CliError(`"${wanted}" is not a transaction id`, EXIT.badInput);
}

/**
 * Finds a transaction by its id or a unique prefix of it, or by its short
 * random suffix (the last six hex digits shown in `unwind status`).
 */
export function findTransaction(root: string, wanted: string): string {
  checkTransactionArgument(wanted);
  const ids = listTransactionIds(root);
  if (TRANSACTION_ID.test(wanted) && ids.includes(wanted)) return wanted;
  const matches = ids.filter((id) => id.startsWith(wanted) || id.endsWith(`-${wanted}`));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new CliError(`"${wanted}" matches ${matches.length} transactions (${matches.join(', ')}); give more of the id`, EXIT.badInput);
  throw new CliError(`no transaction "${wanted}" under ${root} (\`unwind status --all --root ${root}\` lists them)`, EXIT.badInput);
}
