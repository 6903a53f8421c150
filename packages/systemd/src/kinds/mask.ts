import { defineStep } from '@unwind/core';
import { UnitStateError } from '../errors.js';
import { guardsUnitDir, systemctl } from '../manager.js';
import { isMasked } from '../state.js';
import { readEnablementState } from '../unit-file-state.js';
import { changingLinks } from '../link-sync.js';
import { removeNewEmptyDirs } from '../unitdir.js';
import { describeUnit, runnerOf, UnitArgs, validateUnitArgs } from './common.js';
import { EnablementBefore, prepareEnablement, validateJournaledEnablement } from './enable.js';

/**
 * Masks a unit (`systemctl mask`: a link to /dev/null in the unit directory,
 * so nothing can start it). It does not stop a running unit; add a `stop`
 * step. systemd refuses to mask a unit whose own file lives in the unit
 * directory (/etc/systemd/system, ~/.config/systemd/user): that error, with
 * systemctl's stderr, fails the step. Already masked: nothing to do. Undo
 * unmasks it if it was not masked before.
 *
 * @example
 * ```ts
 * tx.add(stop({ unit: 'legacy.service' }));
 * tx.add(mask({ unit: 'legacy.service' }));
 * ```
 */
export const mask = defineStep({
  type: 'systemd.mask',
  package: '@unwind/systemd',
  args: UnitArgs,
  before: EnablementBefore,
  validate: validateUnitArgs('any'),
  describe: (a) => describeUnit('mask', a),
  prepare: prepareEnablement,
  validateJournaled: validateJournaledEnablement,
  wouldChange: async (a, ctx) => !isMasked((await readEnablementState(a.unit, a, runnerOf(ctx))).unitFileState),
  do: async (a, before, ctx) => {
    if (isMasked(before.state.unitFileState)) return;
    await changingLinks(before.unitDir, guardsUnitDir(a), () => systemctl(a, runnerOf(ctx), ['mask', '--', a.unit]));
  },
  verify: async (a, _before, _after, ctx) => {
    const now = await readEnablementState(a.unit, a, runnerOf(ctx));
    if (!isMasked(now.unitFileState)) throw new UnitStateError(a.unit, 'UnitFileState', now.unitFileState, 'masked');
  },
  undo: async (a, before, _after, ctx) => {
    const runner = runnerOf(ctx);
    if (!isMasked(before.state.unitFileState) && isMasked((await readEnablementState(a.unit, a, runner)).unitFileState)) {
      await changingLinks(before.unitDir, guardsUnitDir(a), () => systemctl(a, runner, ['unmask', '--', a.unit]));
    }
    removeNewEmptyDirs(before.unitDir, before.dirs, guardsUnitDir(a));
  },
});
