import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { recover } from '@unwind/core';
import { killAtEveryOperation, type KillPoint, type KillWorld, requireHere, type RunStepsConfig, testKinds } from '@unwind/core/testing';
import { kinds } from '../src/index.js';
import { freeUid, keepMachineDatabaseUnchanged, prefixRoot, skipReason } from './helpers.js';

// SIGKILL a users transaction at its mutating operations — every file-system
// call of the journal, the end of every shadow-tool command, and (through
// strace) before every file-changing system call inside useradd, groupadd,
// usermod, userdel and groupdel — then recover() in this process: the prefix
// root must be exactly the before-state, or the after-state past the commit
// point; a second recover() changes nothing; and the next shadow tool run on
// the prefix succeeds (no lock is left that would stop it). The sample is
// seeded and printed (UNWIND_KILL_SEED replays it, UNWIND_KILL_POINTS=0 runs
// every point).

const allKinds = [...kinds, ...testKinds];
const kindsModule = resolve(import.meta.dirname, '../src/index.ts');
const traced = ['useradd', 'groupadd', 'usermod', 'userdel', 'groupdel'];

function arrangeUsers(uid: number, rollback: boolean): KillWorld<RunStepsConfig> {
  const p = prefixRoot();
  p.sh('useradd', '-m', '-u', String(uid + 1), 'carol');
  p.sh('usermod', '-a', '-G', 'users', 'carol');
  p.sh('useradd', '-m', '-u', String(uid + 2), 'bob');
  fs.writeFileSync(join(p.root, 'home/bob/data'), 'bob data\n');
  fs.writeFileSync(join(p.lingerDir, 'bob'), '');
  const journalRoot = join(p.root, 'journal');
  const prefix = p.root;
  return {
    config: {
      name: 'users kill points', journalRoot, kindsModule, retention: 'keep', rollback,
      steps: [
        { type: 'users.ensureGroup', args: { name: 'managed', prefix, gid: uid } },
        { type: 'users.ensureUser', args: { name: 'alice', prefix, uid, groups: ['managed'], shell: '/bin/sh' } },
        { type: 'users.addToGroup', args: { user: 'carol', group: 'managed', prefix } },
        { type: 'users.removeFromGroup', args: { user: 'carol', group: 'users', prefix } },
        { type: 'users.removeUser', args: { name: 'bob', prefix, removeHome: true, lingerDir: p.lingerDir, graceMs: 100 } },
      ],
    },
    roots: [p.root],
    journalRoot,
    // The database files byte for byte, homes, linger files, and what else lies in etc/ (a lock or a
    // temporary file a killed tool left would show here).
    state: () => ({ ...p.state(), etc: fs.readdirSync(join(p.root, 'etc')).sort() }),
    recover: () => recover({ root: journalRoot, kinds: allKinds }),
    afterRecovery: () => p.sh('groupadd', '-g', String(uid + 9), 'nextrun'),
    cleanup: () => p.cleanup(),
  };
}

keepMachineDatabaseUnchanged();

describe('users: a kill at every mutating operation (inside the shadow tools too), then recover()', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
  const uid = freeUid();

  it.each([
    ['a committing run (every do and commit)', false],
    ['a run that rolls back (every do and undo)', true],
  ])('%s', async (_what, rollback) => {
    const report = await killAtEveryOperation({ name: `users, ${rollback ? 'rolled back' : 'committed'}`, arrange: () => arrangeUsers(uid, rollback), traced, budget: 10 });
    expect(report.commands).toBeGreaterThan(4);
    expect(report.insidePoints).toBeGreaterThan(100);
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    expect(report.failures).toEqual([]);
  }, 600_000);
});

// The states the sample above found wrong, every time (regression tests): the tools of the undos killed
// after writing group, before gshadow (usermod -a -G: the member missing from gshadow; usermod -r -G: left
// there; groupdel: the gshadow line left) and a userdel killed between its files (the account gone from
// passwd, still in shadow, a member of "managed", its private group's gshadow line left); a tool killed with
// its pid file still empty, or its `<file>+` copy half-made (left beside the database after recovery).
describe('users: kills that once left the prefix changed after recovery', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
  const uid = freeUid();
  it.each([
    ['the tools of the rollback killed between their database files', true, (p: KillPoint) =>
      'command' in p && p.syscall === 'rename' && (p.label.includes(' userdel ') ? p.label.includes(' alice') : /(usermod|groupdel) /.test(p.label) && p.label.includes('gshadow+'))],
    ['a useradd killed before it writes its pid file, and before it fills passwd+ and shadow+', false, (p: KillPoint) => 'command' in p && p.label.includes(' useradd ') && (p.label.includes('write call 1:') || (p.syscall === 'fchmod' && (p.when === 2 || p.when === 4)))],
  ])('%s', async (what, rollback, only) => {
    const report = await killAtEveryOperation({ name: `users, ${what}`, arrange: () => arrangeUsers(uid, rollback), traced, only, budget: 0 });
    expect(report.checked.length).toBeGreaterThanOrEqual(3);
    expect(report.failures).toEqual([]);
  }, 300_000);
});
