// A rollback goes newest first, so the undo of a container's last step — its restart — runs while
// the new unit file (or Quadlet file) is still there and loaded: it finds the unit up and leaves it
// up, running what the new file said. The files come back and the manager reloads after that, under
// a process they did not start. This step goes before the files change; its undo runs after
// theirs, and restarts the unit when the transaction had started it anew, so it runs the old
// definition again.
import { setTimeout as sleep } from 'node:timers/promises';
import * as t from 'io-ts';
import { defineStep, type CommandRunner } from '@unwind/core';
import { ManagerOptions, UnitStateError, restart, unitProperties } from '@unwind/systemd';

const Args = t.intersection([t.type({ unit: t.string }), ManagerOptions]);
type Args = t.TypeOf<typeof Args>;
/** Where the unit stood before the transaction changed it: up or not, and which start of it ran. */
const Before = t.type({ activeState: t.string, invocationId: t.string });

const isUp = (activeState: string | undefined) => activeState === 'active' || activeState === 'reloading' || activeState === 'activating';

/**
 * The unit's ActiveState and InvocationID. systemd names a LoadState for every unit name, so an
 * answer without one is no state (seen under load): read again, as the library's own reads do,
 * never taken for "not running". A program path in the arguments is never run (recovery reads
 * them from the journal): this goes through the configured runner's `systemctl`.
 */
async function read(a: Args, exec: CommandRunner, signal?: AbortSignal): Promise<t.TypeOf<typeof Before>> {
  const { scope, systemctl: _journaledProgram, unit, ...rest } = a;
  for (let attempt = 1; ; attempt++) {
    const p = await unitProperties(unit, ['LoadState', 'ActiveState', 'InvocationID'], scope, { ...rest, exec, ...(signal ? { signal } : {}) });
    if (p.LoadState) return { activeState: p.ActiveState ?? '', invocationId: p.InvocationID ?? '' };
    if (attempt === 3) throw new UnitStateError(unit, 'LoadState', '', 'a LoadState (systemctl show printed none, three times)');
    await sleep(250, undefined, signal ? { signal } : {});
  }
}

/**
 * Changes nothing; its undo, which runs after the undo of every later step of the transaction
 * (the old unit or Quadlet files back, the manager reloaded), restarts `unit` when it was up
 * before and has been started since (another `InvocationID`) or is down now — so the unit runs
 * its old definition again. A unit that was not up, or was never restarted, is left alone.
 *
 * @example
 * ```ts
 * tx.add(restartOnRollback({ unit: 'web.service', scope: { user: 'web' } }));
 * tx.add(installUnit({ unit: 'web.service', content, scope: { user: 'web' } }));
 * tx.add(restart({ unit: 'web.service', scope: { user: 'web' } }));
 * ```
 */
export const restartOnRollback = defineStep({
  type: 'containers.restartOnRollback',
  package: '@unwind/example-container-reconciler',
  args: Args,
  before: Before,
  validate: (a) => restart.definition.validate?.(a),
  describe: (a) => `restart ${a.unit} again if a rollback restores its old definition under a process started since`,
  prepare: (a, ctx) => read(a, ctx.exec, ctx.signal),
  do: async () => {},
  undo: async (a, before, _after, ctx) => {
    if (!isUp(before.activeState)) return;
    const now = await read(a, ctx.exec, ctx.signal);
    if (isUp(now.activeState) && now.invocationId === before.invocationId) return;
    // The library's restart, so the systemctl it runs is the configured one (never a journaled path).
    await restart.definition.do(a, { loadState: '', activeState: now.activeState, subState: '', unitFileState: '' }, ctx);
  },
});
