// A second name for a privileged group's gid (`sudo2:x:27:` beside
// `sudo:x:27:`) is that group: sudo, polkit and file modes match the gid, so
// a member of sudo2 is a member of sudo. No route of unwind adds a member to
// it or takes one out, as for sudo itself.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { addToGroup, ensureUser, removeFromGroup, removeUser } from '../src/index.js';
import { expectRefused, faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, type PrefixRoot, runSteps, skipReason } from './helpers.js';

keepMachineDatabaseUnchanged();

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

/** A prefix root with sudo, `sudo2` (another name for sudo's gid), an ordinary group and erin, an ordinary account. */
function arrange(): { root: PrefixRoot; sudoGid: number } {
  const root = prefixRoot();
  const group = () => fs.readFileSync(join(root.root, 'etc/group'), 'utf8');
  if (!/^sudo:/m.test(group())) root.sh('groupadd', 'sudo');
  const sudoGid = Number(/^sudo:[^:]*:(\d+):/m.exec(group())![1]);
  root.sh('groupadd', '-o', '-g', String(sudoGid), 'sudo2');
  root.sh('groupadd', 'plain');
  root.sh('useradd', '-M', '-u', String(freeUid()), 'erin');
  return { root, sudoGid };
}

describe('a second name for a privileged group\'s gid is judged as that group', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  it('addToGroup and ensureUser (new or existing account, primary or supplementary) add no member to sudo2, naming sudo', async () => {
    const { root, sudoGid } = arrange();
    p = root;
    const alias = new RegExp(`alias of the privileged group sudo \\(same gid ${sudoGid}\\)`);
    await expectRefused(addToGroup({ user: 'erin', group: 'sudo2', prefix: p.root }), 'PROTECTED_USER', { state: p.state, message: alias });
    await expectRefused(ensureUser({ name: 'erin', prefix: p.root, groups: ['sudo2'] }), 'PROTECTED_USER', { state: p.state, message: alias });
    await expectRefused(ensureUser({ name: 'erin', prefix: p.root, group: 'sudo2' }), 'PROTECTED_USER', { state: p.state, message: alias });
    await expectRefused(ensureUser({ name: 'frank', uid: freeUid(), prefix: p.root, groups: ['plain', 'sudo2'] }), 'PROTECTED_USER', { state: p.state, message: alias });
    await expectRefused(ensureUser({ name: 'frank', uid: freeUid(), prefix: p.root, group: 'sudo2' }), 'PROTECTED_USER', { state: p.state, message: alias });
  });

  it('a member of sudo2 is not taken out of it, nor removed (the undo would give the membership back)', async () => {
    const { root } = arrange();
    p = root;
    p.sh('usermod', '-a', '-G', 'sudo2', 'erin');
    await expectRefused(removeFromGroup({ user: 'erin', group: 'sudo2', prefix: p.root }), 'PROTECTED_USER', { state: p.state, message: /alias of the privileged group sudo/ });
    await expectRefused(ensureUser({ name: 'erin', prefix: p.root, groups: ['plain'], appendGroups: false }), 'LOCKED_MEMBERSHIP', { state: p.state, message: /would leave sudo2 \(an alias of the privileged group sudo/ });
    await expectRefused(removeUser({ name: 'erin', prefix: p.root, stopProcesses: false, lingerDir: p.lingerDir }), 'PROTECTED_USER', { state: p.state, message: /a member of sudo2/ });
  });

  it('an account whose primary group is sudo2 is not removed', async () => {
    const { root, sudoGid } = arrange();
    p = root;
    p.sh('useradd', '-M', '-u', String(freeUid()), '-g', 'sudo2', 'gina');
    await expectRefused(removeUser({ name: 'gina', prefix: p.root, stopProcesses: false, lingerDir: p.lingerDir }), 'PROTECTED_USER', { state: p.state, message: new RegExp(`primary group is sudo2? \\((a privileged group|an alias of the privileged group sudo \\(same gid ${sudoGid}\\))`) });
  });

  it('an ordinary group (its own gid) still takes members', async () => {
    const { root } = arrange();
    p = root;
    const { exec } = faultyExec();
    expect((await runSteps('users privileged alias', [addToGroup({ user: 'erin', group: 'plain', prefix: p.root })], exec)).status).toBe('committed');
    expect(fs.readFileSync(join(p.root, 'etc/group'), 'utf8')).toMatch(/^plain:x:\d+:erin$/m);
  });
});
