/**
 * Kill points of a unit's whole life on another user's real manager: a
 * machine user's user@UID.service, reached with `--machine=USER@` (scope
 * `{ user }`): systemd.installUnit, daemonReload, start, restartOnRollback, restart and stop,
 * killed after each mutating operation and inside each systemctl before each
 * message it sends (strace, `sendmsg`), then recover(): exactly the before-
 * (or after-) state, and a second recover() changes nothing. Then the same
 * transaction led by systemd.startUserManager on that user's stopped manager:
 * a kill anywhere, recovery included, leaves user@UID.service as it was.
 * It creates a real account, so it runs in the machine project.
 * A seeded sample of 4 points per transaction runs in the test command (the machine project runs its
 * files one after another, and each systemctl through --machine starts a bridge in the user's manager);
 * UNWIND_KILL_SEED replays another sample, UNWIND_KILL_POINTS=0 runs all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAtEveryOperation, type MachineUser } from '@unwind/core/testing';
import { lifecycleWorld, startManagerOf, stopManagerOf, type LifecyclePlace } from './lifecycle-kill-world.js';
import { machineUserPlace } from './machine-user-place.js';

let user: MachineUser;
let place: Omit<LifecyclePlace, 'startsManager'>;

beforeAll(() => {
  ({ user, place } = machineUserPlace('uwkp'));
}, 120_000);
afterAll(() => user?.remove(), 120_000);

const cases = [
  ['a committing run', false],
  ['a run that rolls back (each step undone)', true],
] as const;

describe("systemd: a kill between and inside the systemctl commands of a unit's life on another user's manager (--machine=USER@), then recover()", () => {
  beforeAll(() => startManagerOf(user.name, user.uid), 120_000);

  it.each(cases)('%s: installUnit, daemonReload, start, restartOnRollback, restart, stop', async (_what, rollback) => {
    const report = await killAtEveryOperation({
      name: `systemd lifecycle (user manager, --machine), ${rollback ? 'rolled back' : 'committed'}`,
      arrange: () => lifecycleWorld(place, rollback),
      traced: ['systemctl'],
      tracedSyscalls: ['sendmsg'],
      budget: 4,
      childTimeoutMs: 180_000,
    });
    expect(report.commands).toBeGreaterThan(8);
    expect(report.insidePoints).toBeGreaterThan(report.commands);
    expect(report.checked.length).toBeGreaterThanOrEqual(4);
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    // A live manager's answers vary, and with them how many messages one systemctl sends: a few points may not be reached.
    expect(report.unreached.length).toBeLessThanOrEqual(Math.ceil(report.checked.length / 10));
    expect(report.failures).toEqual([]);
  }, 3_600_000);
});

describe("systemd: a kill anywhere in a transaction that starts a user's manager (startUserManager on a real user@UID.service), then recover()", () => {
  beforeAll(() => stopManagerOf(user.uid), 120_000);

  it.each(cases)('%s: startUserManager, installUnit, daemonReload, start, restartOnRollback, restart, stop', async (_what, rollback) => {
    const report = await killAtEveryOperation({
      name: `systemd startUserManager and lifecycle, ${rollback ? 'rolled back' : 'committed'}`,
      arrange: () => lifecycleWorld({ ...place, startsManager: { user: user.name, uid: user.uid } }, rollback),
      traced: ['systemctl'],
      tracedSyscalls: ['sendmsg'],
      budget: 4,
      childTimeoutMs: 180_000,
    });
    expect(report.commands).toBeGreaterThan(8);
    expect(report.insidePoints).toBeGreaterThan(report.commands);
    expect(report.checked.length).toBeGreaterThanOrEqual(4);
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    // A live manager's answers vary, and with them how many messages one systemctl sends: a few points may not be reached.
    expect(report.unreached.length).toBeLessThanOrEqual(Math.ceil(report.checked.length / 10));
    expect(report.failures).toEqual([]);
  }, 3_600_000);
});
