import * as t from 'io-ts';
import { defineStep, UntrustedJournalError, validateAbsolutePath } from '@unwind/core';
import { UnitStateError } from '../errors.js';
import { guardsUnitDir, resolveUnitDir, systemctl } from '../manager.js';
import { isEnabled, UnitState } from '../state.js';
import { readEnablementState } from '../unit-file-state.js';
import { changingLinks } from '../link-sync.js';
import { DirSnapshot, removeNewEmptyDirs, snapshotDirs } from '../unitdir.js';
import { checkJournaledUnitDir, describeUnit, runnerOf, UnitArgs, validateUnitArgs } from './common.js';

/** Before-state of enable, disable and mask: the unit's state and the unit directory's layout. */
export const EnablementBefore = t.type({ state: UnitState, unitDir: t.string, dirs: DirSnapshot });
/** See {@link EnablementBefore}. */
export type EnablementBefore = t.TypeOf<typeof EnablementBefore>;

/** Recovery's check of an enablement before-state: the unit directory is the step's, subdirectories plain names. */
export function validateJournaledEnablement(a: UnitArgs, before: EnablementBefore): void {
  const bad = (why: string) => new UntrustedJournalError(`systemd unit ${a.unit}: ${why}`, { unit: a.unit, unitDir: before.unitDir });
  validateAbsolutePath(before.unitDir, { what: 'journaled unit directory' });
  checkJournaledUnitDir(a, before.unitDir, before.dirs.missing, bad);
  for (const name of before.dirs.subdirs) if (name.includes('/') || name === '..' || name === '.') throw bad(`subdirectory ${JSON.stringify(name)} is not a plain name`);
}

/** Shared prepare: state plus the directory snapshot. Read-only. */
export async function prepareEnablement(a: UnitArgs, ctx: Parameters<typeof runnerOf>[0]): Promise<EnablementBefore> {
  const runner = runnerOf(ctx);
  const { unitDir } = await resolveUnitDir(a, runner);
  // First: a symlink or a foreign directory on the way to the unit directory is refused before systemd is asked anything.
  const dirs = snapshotDirs(unitDir, guardsUnitDir(a));
  return { state: await readEnablementState(a.unit, a, runner), unitDir, dirs };
}

/**
 * Enables a unit (`systemctl enable`: the symlinks its `[Install]` section
 * asks for, e.g. `WantedBy=default.target`, and a reload). It does not start
 * it; add a `start` step. Already enabled: nothing to do. Undo disables it
 * if it was not enabled before and removes the now-empty `.wants`
 * directories the enable created.
 *
 * @example
 * ```ts
 * tx.add(enable({ unit: 'app.service' }));
 * tx.add(enable({ unit: 'sync.service', scope: { user: 'alice' } }));
 * ```
 */
export const enable = defineStep({
  type: 'systemd.enable',
  package: '@unwind/systemd',
  args: UnitArgs,
  before: EnablementBefore,
  validate: validateUnitArgs('any'),
  describe: (a) => describeUnit('enable', a),
  prepare: prepareEnablement,
  validateJournaled: validateJournaledEnablement,
  wouldChange: async (a, ctx) => !isEnabled((await readEnablementState(a.unit, a, runnerOf(ctx))).unitFileState),
  do: async (a, before, ctx) => {
    if (isEnabled(before.state.unitFileState)) return;
    await changingLinks(before.unitDir, guardsUnitDir(a), () => systemctl(a, runnerOf(ctx), ['enable', '--', a.unit]));
  },
  verify: async (a, _before, _after, ctx) => {
    const now = await readEnablementState(a.unit, a, runnerOf(ctx));
    if (!isEnabled(now.unitFileState)) throw new UnitStateError(a.unit, 'UnitFileState', now.unitFileState, 'enabled');
  },
  undo: async (a, before, _after, ctx) => {
    const runner = runnerOf(ctx);
    if (!isEnabled(before.state.unitFileState) && isEnabled((await readEnablementState(a.unit, a, runner)).unitFileState)) {
      await changingLinks(before.unitDir, guardsUnitDir(a), () => systemctl(a, runner, ['disable', '--', a.unit]));
    }
    removeNewEmptyDirs(before.unitDir, before.dirs, guardsUnitDir(a));
  },
});
