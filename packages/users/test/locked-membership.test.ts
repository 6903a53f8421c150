// Groups whose members unwind never changes (gid 0, privileged, deny-listed) are
// never left by an ensureUser, and no journal can make an undo give an account
// such a primary group; a comment an account's user set to start with '-' does
// not make its journal unrecoverable.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type JournalPlace } from '@unwind/core';
import { requireHere, testContext } from '@unwind/core/testing';
import { ensureUser, lookupUser, removeUser } from '../src/index.js';
import { type AnyStep, expectRefused, faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, type PrefixRoot, runSteps, SHADOW_TOOLS, skipReason } from './helpers.js';

keepMachineDatabaseUnchanged();

/** Where recovery says the journaled step lives: unused by these kinds' checks. */
const place: JournalPlace = { root: '/nonexistent', transactionDirectory: '/nonexistent/t', transactionId: 't', stepIndex: 0 };

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

function arrange(): PrefixRoot {
  const root = prefixRoot();
  for (const g of ['sudo', 'docker']) if (!fs.readFileSync(join(root.root, 'etc/group'), 'utf8').match(new RegExp(`^${g}:`, 'm'))) root.sh('groupadd', g);
  // A second name for gid 0: its members are the root group's members.
  root.sh('groupadd', '-o', '-g', '0', 'wheel2');
  root.sh('groupadd', 'plain');
  root.sh('groupadd', 'plain2');
  root.sh('groupadd', 'ops');
  return root;
}

describe('ensureUser takes no existing account out of a locked group', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  it('appendGroups: false that would leave sudo, docker, a gid-0 alias or a deny-listed group is refused at prepare, naming the groups', async () => {
    p = arrange();
    p.sh('useradd', '-M', '-u', String(freeUid()), 'erin');
    for (const [group, protect] of [['sudo'], ['docker'], ['wheel2'], ['ops', ['ops']]] as const) {
      p.sh('usermod', '-a', '-G', `${group},plain2`, 'erin');
      await expectRefused(ensureUser({ name: 'erin', prefix: p.root, groups: ['plain'], appendGroups: false, ...(protect ? { protect: [...protect] } : {}) }), 'LOCKED_MEMBERSHIP', { state: p.state, message: new RegExp(`would leave ${group} \\(`) });
      p.sh('usermod', '-r', '-G', group, 'erin');
    }
    p.sh('usermod', '-a', '-G', 'sudo,docker', 'erin');
    await expectRefused(ensureUser({ name: 'erin', prefix: p.root, groups: ['plain'], appendGroups: false }), 'LOCKED_MEMBERSHIP', { state: p.state, message: /would leave (sudo|docker) .*, (sudo|docker) \(/ });
  });

  it('a primary group moved away from a locked group is refused too', async () => {
    p = arrange();
    p.sh('useradd', '-M', '-u', String(freeUid()), '-g', 'docker', 'erin');
    await expectRefused(ensureUser({ name: 'erin', prefix: p.root, group: 'plain' }), 'LOCKED_MEMBERSHIP', { state: p.state, message: /would leave docker \(its primary group/ });
  });

  it('appendGroups: false among ordinary groups still replaces the list, and a rollback puts it back; appendGroups: true beside sudo is fine', async () => {
    p = arrange();
    p.sh('useradd', '-M', '-u', String(freeUid()), 'erin');
    p.sh('usermod', '-a', '-G', 'plain2', 'erin');
    const before = p.state();
    const { exec } = faultyExec();
    const failing: AnyStep = ensureUser({ name: 'nosuch', prefix: p.root, group: 'nosuchgroup' });
    expect((await runSteps('users locked membership', [ensureUser({ name: 'erin', prefix: p.root, groups: ['plain'], appendGroups: false }), failing], exec)).status).toBe('rolled-back');
    expect(p.state().files.group).toEqual(before.files.group);
    expect((await runSteps('users locked membership', [ensureUser({ name: 'erin', prefix: p.root, groups: ['plain'], appendGroups: false })], exec)).status).toBe('committed');
    expect(fs.readFileSync(join(p.root, 'etc/group'), 'utf8')).toMatch(/^plain:x:\d+:erin$/m);
    expect(fs.readFileSync(join(p.root, 'etc/group'), 'utf8')).toMatch(/^plain2:x:\d+:$/m);
    p.sh('usermod', '-a', '-G', 'sudo', 'erin');
    expect((await runSteps('users locked membership', [ensureUser({ name: 'erin', prefix: p.root, groups: ['plain2'] })], exec)).status).toBe('committed');
  });
});

describe('no journal makes an undo give an account gid 0 or a locked primary group', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  it("ensureUser: recovery's check refuses a journaled old primary gid 0 or of a privileged group; the undo refuses it too, before any usermod", async () => {
    p = arrange();
    const uid = freeUid();
    p.sh('useradd', '-M', '-u', String(uid), '-g', 'plain', 'erin');
    const plain = (await lookupUser('erin', { prefix: p.root }))!.gid;
    const docker = Number(/^docker:x:(\d+):/m.exec(fs.readFileSync(join(p.root, 'etc/group'), 'utf8'))![1]);
    const args = { name: 'erin', prefix: p.root, group: 'plain' };
    for (const gid of [0, docker]) {
      const before = { existed: true, user: { name: 'erin', uid, gid, comment: '', home: '/home/erin', shell: '/bin/sh' }, groups: [], home: '/home/erin', homeExisted: false };
      const after = { uid, gid: plain, home: '/home/erin', created: false };
      expect(() => ensureUser.definition.validateJournaled!(args, before, after, place)).toThrow(/UNTRUSTED|primary group/);
      expect(() => ensureUser.definition.validateJournaled!(args, before, undefined, place)).toThrow(/primary group/);
      const { exec, calls } = faultyExec();
      const { ctx, dispose } = testContext({ exec });
      await expect(ensureUser.definition.undo(args, before, after, ctx)).rejects.toMatchObject({ code: 'PROTECTED_USER' });
      dispose();
      expect(calls.filter((c) => SHADOW_TOOLS.includes(c[0]!))).toEqual([]);
    }
    // A journal of a step that changed an ordinary primary group is still fine.
    const ordinary = { existed: true, user: { name: 'erin', uid, gid: plain + 1, comment: '', home: '/home/erin', shell: '/bin/sh' }, groups: [], home: '/home/erin', homeExisted: false };
    expect(() => ensureUser.definition.validateJournaled!(args, ordinary, { uid, gid: plain, home: '/home/erin', created: false }, place)).not.toThrow();
  });

  it('removeUser: prepare refuses an account whose primary group is gid 0; recovery refuses a journal that would bring one back', async () => {
    p = arrange();
    const uid = freeUid();
    p.sh('useradd', '-M', '-u', String(uid), '-g', 'wheel2', 'erin');
    await expectRefused(removeUser({ name: 'erin', prefix: p.root, stopProcesses: false, lingerDir: p.lingerDir }), 'PROTECTED_USER', { state: p.state, message: /primary group/ });
    const line = `erin:x:${uid}:0::/home/erin:/bin/sh`;
    const before = {
      existed: true, user: { name: 'erin', uid, gid: 0, comment: '', home: '/home/erin', shell: '/bin/sh' }, primaryGroup: { name: 'root', gid: 0 }, home: null,
      linger: { path: join(p.lingerDir, 'erin'), existed: null }, lines: [{ file: 'passwd' as const, key: 'erin', lines: [line], prev: null, next: null, index: 0 }],
    };
    expect(() => removeUser.definition.validateJournaled!({ name: 'erin', prefix: p!.root, lingerDir: p!.lingerDir }, before as never, undefined, place)).toThrow(/primary gid 0/);
  });
});

describe("a comment the account's user set to start with '-' (chfn allows it)", () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  it("passes recovery's check of ensureUser and removeUser journals, and the undo writes it back through usermod -c", async () => {
    p = arrange();
    const uid = freeUid();
    p.sh('useradd', '-M', '-u', String(uid), '-c', '-erin', 'erin');
    const { exec, calls } = faultyExec();
    const { ctx, dispose } = testContext({ exec });
    try {
      const args = { name: 'erin', prefix: p.root, comment: 'Erin' };
      const before = await ensureUser.definition.prepare(args, ctx);
      expect(before.user?.comment).toBe('-erin');
      expect(() => ensureUser.definition.validateJournaled!(args, before, undefined, place)).not.toThrow();
      const after = await ensureUser.definition.do(args, before, ctx);
      expect((await lookupUser('erin', { prefix: p.root }))?.comment).toBe('Erin');
      ensureUser.definition.validateJournaled!(args, before, after, place);
      await ensureUser.definition.undo(args, before, after, ctx);
      expect((await lookupUser('erin', { prefix: p.root }))?.comment).toBe('-erin');
      expect(calls.at(-1)).toEqual(['usermod', '-P', p.root, '-c', '-erin', 'erin']);

      const rmArgs = { name: 'erin', prefix: p.root, stopProcesses: false, lingerDir: p.lingerDir };
      const rmBefore = await removeUser.definition.prepare(rmArgs, ctx);
      expect(() => removeUser.definition.validateJournaled!(rmArgs, rmBefore, undefined, place)).not.toThrow();
    } finally {
      dispose();
    }
    // Caller input keeps the stricter rule, and a ':' in a journaled comment is still refused.
    expect(() => ensureUser.definition.validate!({ name: 'erin', comment: '-x' })).toThrow(/must not start with "-"/);
    const forged = { existed: true, user: { name: 'erin', uid, gid: 100, comment: 'a:b', home: '/home/erin', shell: '/bin/sh' }, groups: [], home: '/home/erin', homeExisted: false };
    expect(() => ensureUser.definition.validateJournaled!({ name: 'erin' }, forged, undefined, place)).toThrow(/must not contain ":"/);
  });
});
