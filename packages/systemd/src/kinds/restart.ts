import { defineStep } from '@unwind/core';
import { systemctl } from '../manager.js';
import { expectActiveAfterSettle, readUnitState, restoreActiveState, UnitState } from '../state.js';
import { DEFAULT_SETTLE_MS, describeUnit, runnerOf, StartArgs, validateUnitArgs } from './common.js';

/**
 * Restarts a unit (`systemctl restart`; always acts, like Ansible's
 * `restarted`), then verifies it is still active after `settleMs`. A restart
 * cannot be taken back; undo restores whether the unit was running: it stops
 * a unit that was down before, and starts one that was up but is down now.
 * After a change of the unit's definition, that undo runs first in a
 * rollback, while the new definition is still loaded: the unit stays up
 * running what the new definition said. Put `restartOnRollback` before the
 * change: its undo restarts the unit once the old file is back.
 *
 * @example
 * ```ts
 * tx.add(restart({ unit: 'app.service' })); // after a change of its configuration file
 * ```
 */
export const restart = defineStep({
  type: 'systemd.restart',
  package: '@unwind/systemd',
  args: StartArgs,
  before: UnitState,
  validate: validateUnitArgs('instance'),
  describe: (a) => describeUnit('restart', a),
  prepare: (a, ctx) => readUnitState(a.unit, a, runnerOf(ctx)),
  wouldChange: async () => true,
  do: async (a, _before, ctx) => {
    await systemctl(a, runnerOf(ctx), ['restart', '--', a.unit]);
  },
  verify: (a, _before, _after, ctx) => expectActiveAfterSettle(a.unit, a.settleMs ?? DEFAULT_SETTLE_MS, a, runnerOf(ctx)),
  undo: (a, before, _after, ctx) => restoreActiveState(a.unit, before, a, runnerOf(ctx)),
});
