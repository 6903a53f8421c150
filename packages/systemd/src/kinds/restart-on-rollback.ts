// A rollback goes newest first, so the undo of a transaction's `restart` runs while the new unit
// file is still there and loaded: it finds the unit up and leaves it up, running what the new
// file said. The old file comes back and the manager reloads after that, under a process it did
// not start. This step goes before the change of the definition; its undo runs after that
// change's undo, and restarts the unit when the transaction started it anew.
import * as t from 'io-ts';
import { defineStep } from '@unwind/core';
import { systemctl, type Runner } from '../manager.js';
import { isUp, showStateOf } from '../state.js';
import { describeUnit, runnerOf, UnitArgs, validateUnitArgs } from './common.js';

/** Where the unit stood before the transaction changed it: up or not, and which start of it ran. */
const RunningBefore = t.type({ activeState: t.string, invocationId: t.string });
type RunningBefore = t.TypeOf<typeof RunningBefore>;

/** The unit's ActiveState and InvocationID (a LoadState required, as every state read of the package). */
async function readRunning(a: UnitArgs, runner: Runner): Promise<RunningBefore> {
  const p = await showStateOf(a.unit, ['ActiveState', 'InvocationID'], a, runner);
  return { activeState: p.ActiveState ?? '', invocationId: p.InvocationID ?? '' };
}

/**
 * The guard for `restart` after a change of a unit's definition. Its `do`
 * changes nothing. Its undo runs after the undo of every later step of the
 * transaction: by then the old unit file is back and the manager has
 * reloaded. It restarts `unit` when the unit was up before and has been
 * started since (another `InvocationID`) or is down now, so the unit runs its
 * old definition again. A unit that was not up, or was never restarted, is
 * left alone. Place it before the change (`installUnit`, a drop-in, a config
 * file the unit reads).
 *
 * @example
 * ```ts
 * tx.add(restartOnRollback({ unit: 'app.service' }));
 * tx.add(installUnit({ unit: 'app.service', content }));
 * tx.add(restart({ unit: 'app.service' }));
 * ```
 */
export const restartOnRollback = defineStep({
  type: 'systemd.restartOnRollback',
  package: '@unwind/systemd',
  args: UnitArgs,
  before: RunningBefore,
  validate: validateUnitArgs('instance'),
  describe: (a) => describeUnit('restart again on rollback', a),
  prepare: (a, ctx) => readRunning(a, runnerOf(ctx)),
  wouldChange: async () => false,
  do: async () => {},
  undo: async (a, before, _after, ctx) => {
    if (!isUp(before.activeState)) return;
    const runner = runnerOf(ctx);
    const now = await readRunning(a, runner);
    if (isUp(now.activeState) && now.invocationId === before.invocationId) return;
    await systemctl(a, runner, ['restart', '--', a.unit]);
  },
});
