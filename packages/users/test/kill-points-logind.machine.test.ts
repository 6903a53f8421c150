/**
 * Linger removed with the user, killed at every point: SIGKILL a removeUser
 * of a lingering user of the throw-away machine (systemd as PID 1, real
 * logind, its user@UID.service running) after each of its mutating
 * operations in turn — every file-system call of the journal and of the step
 * (home staged aside, linger file removed), the end of each command
 * (systemctl stop, pkill, userdel) — and inside userdel, before each of its
 * file-changing system calls on the machine's /etc (strace); then recover()
 * in this process. The account, its group, its home and its linger — the
 * file, logind's view and the manager — must be exactly as before (or as
 * after, past the commit point), a second recover() changes nothing, and no
 * shadow lock is left for the next tool.
 * A seeded sample runs in the test command (UNWIND_KILL_SEED replays, UNWIND_KILL_POINTS=0 runs all).
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recover } from '@unwind/core';
import { commandOutput as sh, enableLingerSettled, killAtEveryOperation, machineUser, notInsideMachine, settledLinger, temporaryDirectory, testKinds, type KillWorld, type RunStepsConfig } from '@unwind/core/testing';
import { kinds } from '../src/index.js';

const kindsModule = resolve(import.meta.dirname, '../src/index.ts');
const allKinds = [...kinds, ...testKinds];
const LINGER = '/var/lib/systemd/linger';
const LOCKS = ['passwd', 'shadow', 'group', 'gshadow'].map((file) => `/etc/${file}.lock`);

function arrange(rollback: boolean): KillWorld<RunStepsConfig> {
  const outside = notInsideMachine();
  if (outside) throw new Error(`these tests remove users of the machine they run on: ${outside}`);
  const base = temporaryDirectory('unwind-users-kill-logind-');
  const user = machineUser('uwkr');
  enableLingerSettled(user);
  fs.writeFileSync(join('/home', user.name, 'data'), 'the user\'s data\n');
  const journalRoot = join(base.path, 'journal');
  // By role: each world has a user of its own, so the counting run's after-state fits every world.
  const byRole = (text: string) => text.replaceAll(user.name, 'USER').replaceAll(`:${user.uid}:`, ':UID:');
  return {
    config: {
      name: 'users kill points (logind)', journalRoot, kindsModule, retention: 'keep', rollback,
      steps: [{ type: 'users.removeUser', args: { name: user.name, removeHome: true, graceMs: 500 } }],
    },
    roots: [base.path, '/etc', '/home', LINGER],
    journalRoot,
    state: async () => ({
      passwd: byRole(sh(['getent', 'passwd', user.name], [0, 2])),
      group: byRole(sh(['getent', 'group', user.name], [0, 2])),
      home: fs.existsSync(join('/home', user.name, 'data')) ? fs.readFileSync(join('/home', user.name, 'data'), 'utf8') : null,
      staged: fs.readdirSync('/home').filter((entry) => entry.startsWith(`.unwind-home-${user.name}-`)).length,
      linger: await settledLinger(user),
    }),
    recover: () => recover({ root: journalRoot, kinds: allKinds }),
    afterRecovery: () => {
      const left = LOCKS.filter((lock) => fs.existsSync(lock));
      if (left.length > 0) throw new Error(`shadow locks left: ${left.join(', ')}`);
    },
    cleanup: () => {
      try {
        user.remove();
        for (const entry of fs.readdirSync('/home').filter((e) => e.startsWith(`.unwind-home-${user.name}-`))) fs.rmSync(join('/home', entry), { recursive: true, force: true });
      } finally {
        base.remove();
      }
    },
  };
}

describe('users on real logind: removeUser of a lingering user, killed at every point (inside userdel too), then recover()', () => {
  it.each([
    ['a committing run (the user, its home and linger go)', false],
    ['a run that rolls back (all of it comes back, the manager running again)', true],
  ])('%s', async (_what, rollback) => {
    const report = await killAtEveryOperation({ name: `users removeUser on logind, ${rollback ? 'rolled back' : 'committed'}`, arrange: () => arrange(rollback), traced: ['userdel'], budget: 1 });
    expect(report.commands).toBeGreaterThanOrEqual(2);
    expect(report.insidePoints).toBeGreaterThan(0);
    expect(report.checked.length).toBeGreaterThanOrEqual(1); // all of them with UNWIND_KILL_POINTS=0
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    expect(report.failures).toEqual([]);
  }, 1_800_000);
});
