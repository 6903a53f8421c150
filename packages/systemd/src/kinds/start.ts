import { defineStep } from '@unwind/core';
import { systemctl } from '../manager.js';
import { expectActiveAfterSettle, isUp, readUnitState, restoreActiveState, UnitState } from '../state.js';
import { DEFAULT_SETTLE_MS, describeUnit, runnerOf, StartArgs, validateUnitArgs } from './common.js';

/**
 * Starts a unit (`systemctl start`, which waits for the start job), then
 * verifies it is still active after a settle delay (`settleMs`, default
 * 1000): a `Type=simple` service that dies at once fails the step. Already
 * running: nothing to do. Undo stops it again if it was not running before,
 * and clears the `failed` state a failed start leaves.
 *
 * @example
 * ```ts
 * tx.add(start({ unit: 'app.service' }));
 * tx.add(start({ unit: 'sync.service', scope: 'user', settleMs: 2000 }));
 * ```
 */
export const start = defineStep({
  type: 'systemd.start',
  package: '@unwind/systemd',
  args: StartArgs,
  before: UnitState,
  validate: validateUnitArgs('instance'),
  describe: (a) => describeUnit('start', a),
  prepare: (a, ctx) => readUnitState(a.unit, a, runnerOf(ctx)),
  wouldChange: async (a, ctx) => !isUp((await readUnitState(a.unit, a, runnerOf(ctx))).activeState),
  do: async (a, before, ctx) => {
    if (isUp(before.activeState)) return;
    await systemctl(a, runnerOf(ctx), ['start', '--', a.unit]);
  },
  verify: (a, _before, _after, ctx) => expectActiveAfterSettle(a.unit, a.settleMs ?? DEFAULT_SETTLE_MS, a, runnerOf(ctx)),
  undo: (a, before, _after, ctx) => restoreActiveState(a.unit, before, a, runnerOf(ctx)),
});
