// A second name for a privileged group's gid (`sudo2:x:27:` beside
// `sudo:x:27:`) is that group: sudo, polkit and file modes match the gid, so
// a member of sudo2 is a member of sudo. No route of unwind adds a member to
// it or takes one out, as for sudo itself.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type CommandRunner, type Outcome, type Step } from '@unwind/core';
import { requireHere } from '@unwind/core/testing';
import { addToGroup, ensureUser, removeFromGroup, removeUser } from '../src/index.js';
import { faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, SHADOW_TOOLS, skipReason, type PrefixRoot } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStep = Step<any, any, any>;

keepMachineDatabaseUnchanged();

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

function run(steps: AnyStep[], exec: CommandRunner): Promise<Outcome> {
  const tx = transaction('users privileged alias', { journal: memoryJournal(), handleSignals: false, exec, retry: { do: { retries: 0, minTimeout: 10 } } });
  for (const s of steps) tx.add(s);
  return tx.run();
}

/** The step is refused with `code` and a message matching `message`, no shadow tool ran, and the prefix root is as it was. */
async function refused(step: AnyStep, code: string, root: PrefixRoot, message: RegExp): Promise<void> {
  const before = root.state();
  const { exec, calls } = faultyExec();
  const outcome = await run([step], exec);
  expect(outcome.status === 'refused' || outcome.status === 'rolled-back').toBe(true);
  expect('cause' in outcome && outcome.cause.code).toBe(code);
  expect('cause' in outcome && outcome.cause.message).toMatch(message);
  expect(calls.filter((c) => SHADOW_TOOLS.includes(c[0]!) || c[0] === 'pkill')).toEqual([]);
  expect(root.state()).toEqual(before);
}

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
    await refused(addToGroup({ user: 'erin', group: 'sudo2', prefix: p.root }), 'PROTECTED_USER', p, alias);
    await refused(ensureUser({ name: 'erin', prefix: p.root, groups: ['sudo2'] }), 'PROTECTED_USER', p, alias);
    await refused(ensureUser({ name: 'erin', prefix: p.root, group: 'sudo2' }), 'PROTECTED_USER', p, alias);
    await refused(ensureUser({ name: 'frank', uid: freeUid(), prefix: p.root, groups: ['plain', 'sudo2'] }), 'PROTECTED_USER', p, alias);
    await refused(ensureUser({ name: 'frank', uid: freeUid(), prefix: p.root, group: 'sudo2' }), 'PROTECTED_USER', p, alias);
  });

  it('a member of sudo2 is not taken out of it, nor removed (the undo would give the membership back)', async () => {
    const { root } = arrange();
    p = root;
    p.sh('usermod', '-a', '-G', 'sudo2', 'erin');
    await refused(removeFromGroup({ user: 'erin', group: 'sudo2', prefix: p.root }), 'PROTECTED_USER', p, /alias of the privileged group sudo/);
    await refused(ensureUser({ name: 'erin', prefix: p.root, groups: ['plain'], appendGroups: false }), 'LOCKED_MEMBERSHIP', p, /would leave sudo2 \(an alias of the privileged group sudo/);
    await refused(removeUser({ name: 'erin', prefix: p.root, stopProcesses: false, lingerDir: p.lingerDir }), 'PROTECTED_USER', p, /a member of sudo2/);
  });

  it('an account whose primary group is sudo2 is not removed', async () => {
    const { root, sudoGid } = arrange();
    p = root;
    p.sh('useradd', '-M', '-u', String(freeUid()), '-g', 'sudo2', 'gina');
    await refused(removeUser({ name: 'gina', prefix: p.root, stopProcesses: false, lingerDir: p.lingerDir }), 'PROTECTED_USER', p, new RegExp(`primary group is sudo2? \\((a privileged group|an alias of the privileged group sudo \\(same gid ${sudoGid}\\))`));
  });

  it('an ordinary group (its own gid) still takes members', async () => {
    const { root } = arrange();
    p = root;
    const { exec } = faultyExec();
    expect((await run([addToGroup({ user: 'erin', group: 'plain', prefix: p.root })], exec)).status).toBe('committed');
    expect(fs.readFileSync(join(p.root, 'etc/group'), 'utf8')).toMatch(/^plain:x:\d+:erin$/m);
  });
});
