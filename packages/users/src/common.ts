import * as t from 'io-ts';
import { dirname } from 'node:path';
import { lstatIfPresent, syncDirectory, type CommandResult, type StepContext } from '@unwind/core';
import { dbPath } from './db.js';
import { UserBusyError } from './errors.js';

/** Fields every users step kind accepts. Journaled with the step, so recovery uses the same root. */
export const CommonArgs = t.partial({
  /** A root directory: the shadow tools get `-P PREFIX`; look-ups read PREFIX/etc. */
  prefix: t.string,
  /** Names that must never be removed or changed destructively, on top of root and accounts below UID_MIN. */
  protect: t.array(t.string),
  /** Timeout of each program run, in ms (default 30 000). */
  commandTimeoutMs: t.number,
});
/** See {@link CommonArgs}. */
export type CommonArgs = t.TypeOf<typeof CommonArgs>;

/** Look-up options for a step's arguments: the prefix and the step's command runner. */
export function lookupIn(args: CommonArgs, ctx: StepContext) {
  return { ...(args.prefix ? { prefix: args.prefix } : {}), exec: ctx.exec, signal: ctx.signal };
}

/**
 * Runs a shadow tool (`useradd`, `usermod`, ...) with `-P PREFIX` when a
 * prefix is set, through the step's command runner, then syncs the
 * database's directory (PREFIX/etc). The tools fsync each new database file
 * before renaming it over the old one, but never sync the directory: until
 * it is, a power cut can lose the renames — the change — after the journal
 * already says the step is done. One directory sync per tool run (also when
 * it failed: whatever it did change must not outlive the record of it).
 */
export async function shadowTool(ctx: StepContext, args: CommonArgs, tool: string, rest: string[], mapError?: (r: CommandResult) => Error | undefined): Promise<CommandResult> {
  const argv = [tool, ...(args.prefix ? ['-P', args.prefix] : []), ...rest];
  try {
    return await ctx.exec({ argv, signal: ctx.signal, timeoutMs: args.commandTimeoutMs ?? 30_000, ...(mapError ? { mapError } : {}) });
  } finally {
    syncDirectory(dirname(dbPath(args.prefix, 'passwd')));
  }
}

export { assertNameNotProtected, assertNotProtected } from './protect.js';

/** Maps userdel's exit 8 ("user is currently used by process N") to a UserBusyError. */
export const userBusy = (name: string) => (r: CommandResult) => (r.exitCode === 8 ? new UserBusyError(name, r) : undefined);

/** Whether there is an entry at `path` (never following a symlink at its end): a home, a staged home, a linger file. */
export function entryExists(path: string): boolean {
  return lstatIfPresent(path) !== undefined;
}
