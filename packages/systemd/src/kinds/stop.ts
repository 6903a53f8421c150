import { defineStep } from '@unwind/core';
import { UnitStateError } from '../errors.js';
import { systemctl } from '../manager.js';
import { isUp, readUnitState, restoreActiveState, UnitState } from '../state.js';
import { describeUnit, runnerOf, UnitArgs, validateUnitArgs } from './common.js';

/**
 * Stops a unit (`systemctl stop`, which waits for the stop job). Not running:
 * nothing to do. Undo starts it again if it was running before.
 *
 * @example
 * ```ts
 * tx.add(stop({ unit: 'app.service' }));
 * ```
 */
export const stop = defineStep({
  type: 'systemd.stop',
  package: '@unwind/systemd',
  args: UnitArgs,
  before: UnitState,
  validate: validateUnitArgs('instance'),
  describe: (a) => describeUnit('stop', a),
  prepare: (a, ctx) => readUnitState(a.unit, a, runnerOf(ctx)),
  wouldChange: async (a, ctx) => isUp((await readUnitState(a.unit, a, runnerOf(ctx))).activeState),
  do: async (a, before, ctx) => {
    if (!isUp(before.activeState) && before.activeState !== 'deactivating') return;
    await systemctl(a, runnerOf(ctx), ['stop', '--', a.unit]);
  },
  verify: async (a, _before, _after, ctx) => {
    const now = await readUnitState(a.unit, a, runnerOf(ctx));
    if (now.activeState !== 'inactive' && now.activeState !== 'failed') throw new UnitStateError(a.unit, 'ActiveState', now.activeState, 'inactive');
  },
  undo: (a, before, _after, ctx) => restoreActiveState(a.unit, before, a, runnerOf(ctx)),
});
