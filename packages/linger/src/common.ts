import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { assertPrivateDirectory, assertTrustedDirectory, InvalidInputError, programFor, syncDirectory, UntrustedJournalError, validateAbsolutePath, validateName, VerificationError, type StepContext } from '@unwind/core';

/**
 * Where logind keeps linger flags: one empty file per lingering user.
 *
 * @example
 * ```ts
 * isLingering('app', { lingerDir: DEFAULT_LINGER_DIR });
 * ```
 */
export const DEFAULT_LINGER_DIR = '/var/lib/systemd/linger';

/**
 * Arguments of the linger kinds.
 *
 * @example
 * ```ts
 * const args: LingerArgs = { user: 'app', lingerDir: '/tmp/t/linger', loginctl: '/tmp/t/loginctl' };
 * ```
 */
export const LingerArgs = t.intersection([
  t.type({ user: t.string }),
  t.partial({
    /** The linger directory (default /var/lib/systemd/linger). */
    lingerDir: t.string,
    /**
     * The loginctl program while your process runs the step (default `loginctl` from PATH).
     * Recovery never runs a program named in a journal: it runs `loginctl` through the command
     * runner given to `recover({ exec })` — map it there with `withPrograms` from @unwind/core.
     */
    loginctl: t.string,
    /** Timeout of the loginctl call, in ms (default 30 000). */
    commandTimeoutMs: t.number,
  }),
]);
/** See {@link LingerArgs}. @example `const args: LingerArgs = { user: 'app' };` */
export type LingerArgs = t.TypeOf<typeof LingerArgs>;

/** Before-state: whether the user lingered. */
export const LingerBefore = t.type({ lingering: t.boolean });

/**
 * Checks a linger step's arguments: a user name by shadow's rules, absolute
 * paths. Throws InvalidInputError before anything runs.
 */
export function validateLingerArgs(a: LingerArgs): void {
  validateName(a.user, { what: 'user name', pattern: /^[a-z_][a-z0-9_-]*[$]?$/, maxLength: 32 });
  if (a.lingerDir !== undefined) validateAbsolutePath(a.lingerDir, { what: 'linger directory' });
  if (a.loginctl !== undefined && a.loginctl.includes('/')) validateAbsolutePath(a.loginctl, { what: 'loginctl program' });
  if (a.loginctl !== undefined && !a.loginctl.includes('/')) validateName(a.loginctl, { what: 'loginctl program' });
  if (a.commandTimeoutMs !== undefined && !(Number.isInteger(a.commandTimeoutMs) && a.commandTimeoutMs > 0 && a.commandTimeoutMs <= MAX_COMMAND_TIMEOUT_MS)) {
    throw new InvalidInputError(`commandTimeoutMs must be a whole number of ms from 1 to ${MAX_COMMAND_TIMEOUT_MS}`, { commandTimeoutMs: a.commandTimeoutMs });
  }
}

/** The longest loginctl timeout a step may ask for (an hour): a journal cannot make recovery wait forever. */
const MAX_COMMAND_TIMEOUT_MS = 3_600_000;

/**
 * Recovery's check of a journaled linger step (after `validate` re-ran on its
 * arguments, so the user name is a plain account name and the paths are
 * absolute and normalised). The undo decides whether to call loginctl by
 * looking at the user's file in the journaled linger directory, so that
 * directory must be one only root (or the running user) controls — the
 * StrictModes rule of journal roots: a real directory, not a symlink, no
 * ancestor anyone else can write. A journal naming a directory an attacker
 * fills (or empties) at will could otherwise steer which way recovery turns
 * linger. A linger directory that does not exist is allowed: nobody lingers,
 * and the undo reads it as such. The journaled `loginctl` is never run in
 * recovery (`programFor`): programs come from the command runner's configuration.
 */
export function validateJournaledLinger(a: LingerArgs): void {
  const lingerDir = a.lingerDir ?? DEFAULT_LINGER_DIR;
  const bad = (why: string) => new UntrustedJournalError(`linger for ${JSON.stringify(a.user)}: ${why}`, { user: a.user, lingerDir });
  // validate already ran on these arguments; checked again here so this check stands on its own.
  try {
    validateLingerArgs(a);
  } catch (error) {
    throw bad((error as Error).message);
  }
  try {
    checkLingerDirectory(lingerDir);
  } catch (error) {
    throw bad((error as Error).message);
  }
}

/**
 * Throws core's `UnsafeDirectoryError` unless only root (or the running
 * user) can change what is in `lingerDir`: an existing one passes the
 * journal root's rule (a real directory of theirs that nobody else can
 * write, below directories nobody else can change); a missing one — nobody
 * lingers — needs its deepest existing ancestor to be a directory nobody
 * else can add an entry to (sticky or not), or another user could make it,
 * filled or empty, between this check and the read that decides whether to
 * run loginctl. Run by prepare and by recovery's journal check.
 *
 * @example
 * ```ts
 * checkLingerDirectory('/var/lib/systemd/linger'); // passes on a stock system
 * checkLingerDirectory('/tmp/linger'); // UnsafeDirectoryError when missing: anyone may create it in /tmp
 * ```
 */
export function checkLingerDirectory(lingerDir: string): void {
  if (fs.lstatSync(lingerDir, { throwIfNoEntry: false }) !== undefined) assertPrivateDirectory(lingerDir, 'linger directory');
  else assertTrustedDirectory(lingerDir, 'linger directory');
}

/**
 * Whether a user lingers: its file exists in the linger directory.
 *
 * @example
 * ```ts
 * isLingering('app'); // true when /var/lib/systemd/linger/app exists
 * isLingering('app', { lingerDir: '/tmp/test/linger' });
 * ```
 */
export function isLingering(user: string, options: { lingerDir?: string } = {}): boolean {
  validateName(user, { what: 'user name', pattern: /^[a-z_][a-z0-9_-]*[$]?$/, maxLength: 32 });
  return fs.existsSync(join(options.lingerDir ?? DEFAULT_LINGER_DIR, user));
}

/**
 * Runs `loginctl enable-linger|disable-linger USER` through the step's
 * command runner, then syncs the linger directory: logind creates or removes
 * the user's file there, and unwind does not rely on it syncing the
 * directory — until it is synced, a power cut could undo the change after
 * the journal says it is done. One directory sync per call (none when the
 * directory does not exist).
 */
export async function loginctl(a: LingerArgs, ctx: StepContext, enable: boolean): Promise<void> {
  try {
    await ctx.exec({ argv: [programFor(a.loginctl, 'loginctl', ctx.phase), enable ? 'enable-linger' : 'disable-linger', a.user], signal: ctx.signal, timeoutMs: a.commandTimeoutMs ?? 30_000 });
  } finally {
    if (fs.existsSync(a.lingerDir ?? DEFAULT_LINGER_DIR)) syncDirectory(a.lingerDir ?? DEFAULT_LINGER_DIR);
  }
}

/** Sets the state through loginctl when it differs (idempotent). */
export async function setLinger(a: LingerArgs, ctx: StepContext, enable: boolean): Promise<void> {
  if (lingering(a) !== enable) await loginctl(a, ctx, enable);
}

/** Whether the step's user lingers, read from the step's linger directory. */
export function lingering(a: LingerArgs): boolean {
  return isLingering(a.user, a.lingerDir ? { lingerDir: a.lingerDir } : {});
}

/** Throws VerificationError unless the linger file says `enabled`. */
export function expectLinger(a: LingerArgs, enabled: boolean): void {
  if (lingering(a) !== enabled) {
    throw new VerificationError(`linger for "${a.user}" is ${enabled ? 'off' : 'still on'} (${join(a.lingerDir ?? DEFAULT_LINGER_DIR, a.user)})`, { user: a.user, expected: enabled });
  }
}

/**
 * Undo, compare-and-swap on a yes/no state: only a change this step made is
 * undone, and only while it is still there. A step that found linger
 * already as it wanted changed nothing, so whatever an admin set since is
 * theirs and stays; a state already back where it was needs nothing. (With
 * two states, "still what the step left" is the only other case.)
 */
export async function undoLinger(a: LingerArgs, before: { lingering: boolean }, ctx: StepContext, set: boolean): Promise<void> {
  if (before.lingering === set) return;
  if (lingering(a) === before.lingering) return;
  await loginctl(a, ctx, before.lingering);
}

/** verifyUndo: the before-state holds, when the step changed anything. */
export function expectUndone(a: LingerArgs, before: { lingering: boolean }, set: boolean): void {
  if (before.lingering !== set) expectLinger(a, before.lingering);
}
