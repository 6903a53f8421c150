/**
 * Kill points against real `loginctl` and systemd-logind (the test run's
 * throw-away machine, systemd as PID 1): SIGKILL a transaction that turns
 * linger on for one user and off for another after each of its mutating
 * operations in turn — every file-system call of the journal, the sync of
 * /var/lib/systemd/linger, each loginctl's end — and inside each loginctl,
 * before each message it sends to the bus (strace; loginctl writes no file
 * itself, logind does), then recover() in this process. For each user the
 * linger file, logind's view (`loginctl show-user -p Linger`) and its
 * user@UID.service must be exactly as before (or as after, past the commit
 * point), and a second recover() changes nothing.
 * A seeded sample runs in the test command (UNWIND_KILL_SEED replays, UNWIND_KILL_POINTS=0 runs all).
 */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recover } from '@unwind/core';
import { commandOutput as sh, enableLingerSettled, killAtEveryOperation, machineUser, notInsideMachine, settledLinger, temporaryDirectory, testKinds, type KillWorld, type RunStepsConfig } from '@unwind/core/testing';
import { kinds } from '../src/index.js';

const kindsModule = resolve(import.meta.dirname, '../src/index.ts');
const allKinds = [...kinds, ...testKinds];
const LINGER = '/var/lib/systemd/linger';

function arrange(rollback: boolean): KillWorld<RunStepsConfig> {
  const outside = notInsideMachine();
  if (outside) throw new Error(`these tests turn linger on and off for users of the machine they run on: ${outside}`);
  const base = temporaryDirectory('unwind-linger-kill-logind-');
  // alice does not linger and will; bob lingers (his manager runs) and will not.
  const alice = machineUser('uwka');
  const bob = machineUser('uwkb');
  enableLingerSettled(bob);
  const journalRoot = join(base.path, 'journal');
  return {
    config: {
      name: 'linger kill points (logind)', journalRoot, kindsModule, retention: 'keep', rollback,
      steps: [
        { type: 'linger.enable', args: { user: alice.name } },
        { type: 'linger.disable', args: { user: bob.name } },
      ],
    },
    roots: [base.path, LINGER],
    journalRoot,
    // By role: each world has users of its own, so the counting run's after-state fits every world.
    state: async () => ({ alice: await settledLinger(alice), bob: await settledLinger(bob) }),
    // Recovery runs `loginctl` from PATH: the machine's own.
    recover: () => recover({ root: journalRoot, kinds: allKinds }),
    cleanup: () => {
      try {
        alice.remove();
        bob.remove();
      } finally {
        base.remove();
      }
    },
  };
}

describe('linger on real logind: a kill after every mutating operation, and inside loginctl, then recover()', () => {
  it.each([
    ['a committing run (enable, disable)', false],
    ['a run that rolls back (enable, disable, then both undone)', true],
  ])('%s', async (_what, rollback) => {
    const report = await killAtEveryOperation({
      name: `linger on logind, ${rollback ? 'rolled back' : 'committed'}`,
      arrange: () => arrange(rollback),
      traced: ['loginctl'],
      tracedSyscalls: ['sendmsg'],
      // Each point is a world of two users and their managers (about 6 s): the test command runs one inside
      // loginctl of the committing run, and one inside and one outside it of the rolled-back run.
      budget: rollback ? 2 : 1,
    });
    expect(report.commands).toBe(rollback ? 4 : 2);
    expect(report.insidePoints).toBeGreaterThan(0);
    expect(report.checked.length).toBeGreaterThanOrEqual(rollback ? 2 : 1); // all of them with UNWIND_KILL_POINTS=0
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    expect(report.failures).toEqual([]);
  }, 1_800_000);
});
