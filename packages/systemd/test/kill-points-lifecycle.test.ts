/**
 * Kill points of a unit's whole life on the machine's own system manager (the
 * test run's throw-away machine, systemd as PID 1): SIGKILL a transaction of
 * systemd.installUnit, systemd.daemonReload, systemd.start,
 * systemd.restartOnRollback, systemd.restart and systemd.stop after each of its mutating operations in turn — every
 * file-system call of the journal and of the steps, each systemctl's end —
 * and inside each systemctl before each message it sends the manager
 * (strace, `sendmsg`: the kill lands between the D-Bus calls of one
 * command), then recover() in this process: each unit's file, load state and
 * active state are exactly as before (or after, past the commit point), and a
 * second recover() changes nothing. The same for another user's manager
 * through `--machine=USER@`, and with systemd.startUserManager, is in
 * kill-points-user.machine.test.ts.
 * A seeded sample runs in the test command (UNWIND_KILL_SEED replays, UNWIND_KILL_POINTS=0 runs all).
 */
import { describe, expect, it } from 'vitest';
import { killAtEveryOperation, notInsideMachine } from '@unwind/core/testing';
import { lifecycleWorld } from './lifecycle-kill-world.js';

function arrange(rollback: boolean) {
  const outside = notInsideMachine();
  if (outside) throw new Error(`these tests change the system manager's units; they run inside the throw-away machine (node scripts/test.mjs): ${outside}`);
  return lifecycleWorld({ scope: 'system', unitDir: '/etc/systemd/system' }, rollback);
}

describe("systemd: a kill between and inside the systemctl commands of a unit's life on the system manager, then recover()", () => {
  it.each([
    ['a committing run (installUnit, daemonReload, start, restartOnRollback, restart, stop)', false],
    ['a run that rolls back (the same, then each undone)', true],
  ])('%s', async (_what, rollback) => {
    const report = await killAtEveryOperation({
      name: `systemd lifecycle (system manager), ${rollback ? 'rolled back' : 'committed'}`,
      arrange: () => arrange(rollback),
      traced: ['systemctl'],
      tracedSyscalls: ['sendmsg'],
      budget: 8,
      childTimeoutMs: 180_000,
    });
    expect(report.commands).toBeGreaterThan(8);
    expect(report.insidePoints).toBeGreaterThan(report.commands); // every systemctl sends the manager more than one message
    expect(report.checked.length).toBeGreaterThanOrEqual(8); // all of them with UNWIND_KILL_POINTS=0
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    // A live manager's answers vary, and with them how many messages one systemctl sends: a few points may not be reached.
    expect(report.unreached.length).toBeLessThanOrEqual(Math.ceil(report.checked.length / 10));
    expect(report.failures).toEqual([]);
  }, 3_600_000);
});
