// Numbers, protected groups and unparsable ids: the rules that keep bad input
// (or a bad passwd line in someone else's image) from reaching a shadow tool.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { addToGroup, ensureGroup, ensureUser, lookupUser, removeFromGroup, removeUser } from '../src/index.js';
import { expectRefused, faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, type PrefixRoot, runSteps, skipReason } from './helpers.js';

keepMachineDatabaseUnchanged();

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

describe('numbers must be finite integers in range (a NaN is journaled as null and never decodes again)', () => {
  const bad = [Number.NaN, Number.POSITIVE_INFINITY, -1, 1.5, 2 ** 31];
  it('commandTimeoutMs, on every kind', async () => {
    for (const ms of [...bad, 0]) {
      for (const step of [
        ensureUser({ name: 'alice', commandTimeoutMs: ms }),
        removeUser({ name: 'alice', commandTimeoutMs: ms }),
        ensureGroup({ name: 'g', commandTimeoutMs: ms }),
        addToGroup({ user: 'alice', group: 'users', commandTimeoutMs: ms }),
        removeFromGroup({ user: 'alice', group: 'users', commandTimeoutMs: ms }),
      ]) await expectRefused(step, 'INVALID_INPUT');
    }
  });

  it('graceMs', async () => {
    for (const ms of bad) await expectRefused(removeUser({ name: 'alice', graceMs: ms }), 'INVALID_INPUT');
  });

  it('uid and gid', async () => {
    for (const id of [Number.NaN, Number.POSITIVE_INFINITY, -1, 1.5, 2 ** 32]) {
      await expectRefused(ensureUser({ name: 'alice', uid: id }), 'INVALID_INPUT');
      await expectRefused(ensureGroup({ name: 'g', gid: id }), 'INVALID_INPUT');
    }
  });

  it('the largest values in range are accepted', async () => {
    const { exec } = faultyExec();
    const outcome = await runSteps('users input rules', [removeUser({ name: 'nosuchuser', graceMs: 2 ** 31 - 1, commandTimeoutMs: 2 ** 31 - 1 })], exec);
    expect(outcome.status).toBe('committed');
  });
});

describe('"/" is no home base: every path is below it', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  it('removeUser and ensureUser refuse homeBase "/" before anything is touched; the home outside /home stays', async () => {
    p = prefixRoot();
    const uid = freeUid();
    fs.mkdirSync(join(p.root, 'srv'));
    p.sh('useradd', '-m', '-u', String(uid), '-d', '/srv/app', 'app');
    fs.writeFileSync(join(p.root, 'srv/app/data'), 'kept\n');
    for (const homeBase of ['/', '///']) {
      await expectRefused(removeUser({ name: 'app', prefix: p.root, removeHome: true, homeBase, stopProcesses: false, lingerDir: p.lingerDir }), 'INVALID_INPUT', { state: p.state });
      await expectRefused(ensureUser({ name: 'newapp', uid: freeUid(), prefix: p.root, home: '/srv/newapp', homeBase }), 'INVALID_INPUT', { state: p.state });
    }
    const { exec } = faultyExec();
    const outcome = await runSteps('users input rules', [removeUser({ name: 'app', prefix: p.root, removeHome: true, homeBase: '/', stopProcesses: false, lingerDir: p.lingerDir })], exec);
    expect('cause' in outcome && outcome.cause.message).toMatch(/home base "\/" is the root directory/);
    expect(fs.readFileSync(join(p.root, 'srv/app/data'), 'utf8')).toBe('kept\n');
    expect(await lookupUser('app', { prefix: p.root })).toBeDefined();
  });
});

describe('ensureUser adds no member to a protected group, primary or supplementary, by name or by gid 0', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  function arrange(): PrefixRoot {
    const root = prefixRoot();
    for (const g of ['sudo', 'docker']) if (!fs.readFileSync(join(root.root, 'etc/group'), 'utf8').match(new RegExp(`^${g}:`, 'm'))) root.sh('groupadd', g);
    // A second name for gid 0: its members are root's group's members.
    root.sh('groupadd', '-o', '-g', '0', 'wheel2');
    root.sh('groupadd', 'plain');
    return root;
  }

  it('a new user', async () => {
    p = arrange();
    const uid = freeUid();
    for (const args of [{ group: 'sudo' }, { group: 'root' }, { group: 'wheel2' }, { groups: ['wheel2'] }, { groups: ['plain', 'wheel2'] }]) {
      await expectRefused(ensureUser({ name: 'dave', uid, prefix: p.root, ...args }), 'PROTECTED_USER', { state: p.state });
    }
    // A group named like the user is its primary group: a user named like a privileged group would join it.
    await expectRefused(ensureUser({ name: 'docker', uid, prefix: p.root }), 'PROTECTED_USER', { state: p.state });
  });

  it('an existing user', async () => {
    p = arrange();
    p.sh('useradd', '-M', '-u', String(freeUid()), 'erin');
    for (const args of [{ group: 'sudo' }, { group: 'wheel2' }, { groups: ['wheel2'] }, { groups: ['wheel2'], appendGroups: false }]) {
      await expectRefused(ensureUser({ name: 'erin', prefix: p.root, ...args }), 'PROTECTED_USER', { state: p.state });
    }
  });

  it('an ordinary group is still fine', async () => {
    p = arrange();
    const { exec } = faultyExec();
    expect((await runSteps('users input rules', [ensureUser({ name: 'dave', uid: freeUid(), prefix: p.root, group: 'plain', groups: ['plain'] })], exec)).status).toBe('committed');
  });
});

describe('passwd and group ids are parsed strictly; an unparsable id is protected', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  function withLine(file: 'passwd' | 'group', line: string): PrefixRoot {
    const root = prefixRoot();
    fs.appendFileSync(join(root.root, 'etc', file), `${line}\n`);
    return root;
  }

  it('a uid like 1e3x or 1e3 is not a number of an account unwind may remove', async () => {
    for (const uid of ['1e3x', '1e3', ' 1001', '0x3e9', '']) {
      p = withLine('passwd', `evil:x:${uid}:1001::/home/evil:/bin/sh`);
      const user = await lookupUser('evil', { prefix: p.root });
      expect(Number.isNaN(user!.uid), uid).toBe(true);
      await expectRefused(removeUser({ name: 'evil', prefix: p.root }), 'PROTECTED_USER', { state: p.state });
      p.cleanup();
      p = undefined;
    }
  });

  it('a group with an unparsable gid is locked: ensureUser does not add to it', async () => {
    p = withLine('group', 'odd:x:0x0:');
    await expectRefused(ensureUser({ name: 'dave', uid: freeUid(), prefix: p.root, groups: ['odd'] }), 'PROTECTED_USER', { state: p.state });
  });
});
