import { defineStep } from '@unwind/core';
import { UnitStateError } from '../errors.js';
import { guardsUnitDir, systemctl } from '../manager.js';
import { isEnabled } from '../state.js';
import { readEnablementState } from '../unit-file-state.js';
import { changingLinks } from '../link-sync.js';
import { removeNewEmptyDirs } from '../unitdir.js';
import { describeUnit, runnerOf, UnitArgs, validateUnitArgs } from './common.js';
import { EnablementBefore, prepareEnablement, validateJournaledEnablement } from './enable.js';

/**
 * Disables a unit (`systemctl disable`: removes its install symlinks, and
 * reloads). It does not stop it; add a `stop` step. Not enabled: nothing to
 * do. Undo enables it again if it was enabled before.
 *
 * @example
 * ```ts
 * tx.add(stop({ unit: 'old.service' }));
 * tx.add(disable({ unit: 'old.service' }));
 * ```
 */
export const disable = defineStep({
  type: 'systemd.disable',
  package: '@unwind/systemd',
  args: UnitArgs,
  before: EnablementBefore,
  validate: validateUnitArgs('any'),
  describe: (a) => describeUnit('disable', a),
  prepare: prepareEnablement,
  validateJournaled: validateJournaledEnablement,
  wouldChange: async (a, ctx) => isEnabled((await readEnablementState(a.unit, a, runnerOf(ctx))).unitFileState),
  do: async (a, before, ctx) => {
    if (!isEnabled(before.state.unitFileState)) return;
    await changingLinks(before.unitDir, guardsUnitDir(a), () => systemctl(a, runnerOf(ctx), ['disable', '--', a.unit]));
  },
  verify: async (a, _before, _after, ctx) => {
    const now = await readEnablementState(a.unit, a, runnerOf(ctx));
    if (isEnabled(now.unitFileState)) throw new UnitStateError(a.unit, 'UnitFileState', now.unitFileState, 'disabled');
  },
  undo: async (a, before, _after, ctx) => {
    const runner = runnerOf(ctx);
    if (isEnabled(before.state.unitFileState) && !isEnabled((await readEnablementState(a.unit, a, runner)).unitFileState)) {
      const runtime = before.state.unitFileState === 'enabled-runtime' ? ['--runtime'] : [];
      await changingLinks(before.unitDir, guardsUnitDir(a), () => systemctl(a, runner, ['enable', ...runtime, '--', a.unit]));
    }
    removeNewEmptyDirs(before.unitDir, before.dirs, guardsUnitDir(a));
  },
});
