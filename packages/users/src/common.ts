import * as t from 'io-ts';
import type { CommandResult, StepContext } from '@unwind/core';
import { uidMin, type UserEntry } from './db.js';
import { ProtectedUserError } from './errors.js';

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
 * prefix is set, through the step's command runner.
 */
export function shadowTool(ctx: StepContext, args: CommonArgs, tool: string, rest: string[], mapError?: (r: CommandResult) => Error | undefined): Promise<CommandResult> {
  const argv = [tool, ...(args.prefix ? ['-P', args.prefix] : []), ...rest];
  return ctx.exec({ argv, signal: ctx.signal, timeoutMs: args.commandTimeoutMs ?? 30_000, ...(mapError ? { mapError } : {}) });
}

/** Refuses a protected name on its own (root, deny list): usable in `validate`, before any look-up. */
export function assertNameNotProtected(name: string, args: CommonArgs): void {
  if (name === 'root') throw new ProtectedUserError(name, 'root');
  if (args.protect?.includes(name)) throw new ProtectedUserError(name, 'on the deny list');
}

/** Refuses a protected account: root, uid below UID_MIN of the (prefix's) login.defs, or the deny list. */
export function assertNotProtected(user: UserEntry, args: CommonArgs): void {
  assertNameNotProtected(user.name, args);
  if (user.uid === 0) throw new ProtectedUserError(user.name, 'uid 0', { uid: 0 });
  const min = uidMin(args.prefix);
  if (user.uid < min) throw new ProtectedUserError(user.name, `system account: uid ${user.uid} is below UID_MIN ${min}`, { uid: user.uid, uidMin: min });
}
