import * as t from 'io-ts';
import { InvalidInputError, type StepContext } from '@unwind/core';
import { ManagerOptions, validateManagerOptions, describeScope, type Runner } from '../manager.js';
import { validateUnitName, type UnitUse } from '../names.js';

/** Arguments of the kinds that act on one unit: the unit and how to reach its manager. */
export const UnitArgs = t.intersection([t.type({ unit: t.string }), ManagerOptions]);
/** See {@link UnitArgs}. */
export type UnitArgs = t.TypeOf<typeof UnitArgs>;

/** Arguments of start and restart: also how long to let the unit settle before checking it is still active. */
export const StartArgs = t.intersection([UnitArgs, t.partial({ settleMs: t.number })]);
/** See {@link StartArgs}. */
export type StartArgs = t.TypeOf<typeof StartArgs>;

/** Default settle delay before re-reading ActiveState after a start, ms. */
export const DEFAULT_SETTLE_MS = 1000;

/** The validate hook of a unit kind. */
export function validateUnitArgs(use: UnitUse) {
  return (args: UnitArgs & { settleMs?: number }): void => {
    validateUnitName(args.unit, use);
    validateManagerOptions(args);
    if (args.settleMs !== undefined && !(args.settleMs >= 0 && args.settleMs <= 600_000)) throw new InvalidInputError('settleMs must be between 0 and 600000', { settleMs: args.settleMs });
  };
}

/** The command runner and signal of a step context. */
export function runnerOf(ctx: StepContext): Runner {
  return { exec: ctx.exec, signal: ctx.signal, phase: ctx.phase };
}

/** `verb unit (scope)`. */
export function describeUnit(verb: string, args: UnitArgs): string {
  return `${verb} ${args.unit}${describeScope(args)}`;
}

/**
 * Recovery's check of a journaled unit directory: the one the arguments
 * name (`unitDir`), else the scope's default — /etc/systemd/system for the
 * system manager, a `.config/systemd/user` directory for a user's — and the
 * directories it says it created are that directory and its parents.
 */
export function checkJournaledUnitDir(a: UnitArgs, unitDir: string, missing: readonly string[], bad: (why: string) => Error): void {
  const scope = a.scope ?? 'system';
  if (a.unitDir !== undefined) {
    if (unitDir !== a.unitDir) throw bad(`the journaled unit directory ${unitDir} is not the one it was given (${a.unitDir})`);
  } else if (scope === 'system') {
    if (unitDir !== '/etc/systemd/system') throw bad(`the journaled unit directory ${unitDir} is not /etc/systemd/system`);
  } else if (!unitDir.endsWith('/.config/systemd/user')) throw bad(`the journaled unit directory ${unitDir} is not a user's .config/systemd/user`);
  for (const dir of missing) {
    if (dir !== unitDir && !unitDir.startsWith(`${dir}/`)) throw bad(`it says it created ${dir}, which is not ${unitDir} or a parent of it`);
  }
}
