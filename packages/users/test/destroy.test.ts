import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { memoryJournal, transaction } from '@unwind/core';
import { lookupUser, processesOf, removeUser, UserBusyError } from '../src/index.js';
import { faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, skipReason, type Fault, type PrefixRoot } from './helpers.js';

// The user-destroy building block: a user with running
// processes is removed; processes stop first; a userdel that keeps failing
// rolls back to the user with their home, groups and linger file.

keepMachineDatabaseUnchanged();

describe('removing a user with running processes', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
  let p: PrefixRoot | undefined;
  let children: ChildProcess[] = [];
  let uid = 0;

  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children = [];
    p?.cleanup();
    p = undefined;
  });

  /** bob: a prefix-only account (the uid exists only in the prefix) with a home, a group, a linger file and processes. */
  async function arrange(): Promise<PrefixRoot> {
    p = prefixRoot();
    uid = freeUid();
    p.sh('groupadd', 'managed');
    p.sh('useradd', '-m', '-u', String(uid), '-s', '/bin/bash', 'bob');
    p.sh('usermod', '-a', '-G', 'managed', 'bob');
    fs.mkdirSync(join(p.root, 'home/bob/.config/app'), { recursive: true });
    fs.writeFileSync(join(p.root, 'home/bob/.config/app/state.db'), 'precious state\n');
    fs.writeFileSync(join(p.lingerDir, 'bob'), '');
    const as = ['--reuid', String(uid), '--regid', String(uid), '--clear-groups'];
    children.push(spawn('setpriv', [...as, 'sleep', '1000'], { cwd: '/', stdio: 'ignore' }));
    // This one ignores TERM (its sleep inherits that): only KILL after the grace period ends it.
    children.push(spawn('setpriv', [...as, 'sh', '-c', 'trap "" TERM; sleep 1000'], { cwd: '/', stdio: 'ignore' }));
    for (let i = 0; i < 100 && processesOf(uid).length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(processesOf(uid).length).toBeGreaterThanOrEqual(3);
    return p;
  }

  function txWith(exec: ReturnType<typeof faultyExec>['exec'], root: string) {
    const tx = transaction('destroy bob', { journal: memoryJournal(), handleSignals: false, exec, retry: { undo: { retries: 1, minTimeout: 10 } } });
    tx.add(removeUser({ name: 'bob', prefix: root, removeHome: true, graceMs: 500 }, { retry: { do: { retries: 1, minTimeout: 10 } } }));
    return tx;
  }

  it('stops the processes (TERM, grace, KILL), removes the user, home and linger file; commit deletes the staged home', async () => {
    const root = (await arrange()).root;
    const { exec, calls } = faultyExec();
    const outcome = await txWith(exec, root).run();
    expect(outcome.status).toBe('committed');
    expect(processesOf(uid)).toEqual([]);
    const pkills = calls.filter((c) => c[0] === 'pkill').map((c) => c.slice(1, 2)[0]);
    expect(pkills).toEqual(['-TERM', '-TERM', '-KILL', '-KILL']);
    expect(await lookupUser('bob', { prefix: root })).toBeUndefined();
    expect(fs.readdirSync(join(root, 'home'))).toEqual([]);
    expect(fs.existsSync(join(p!.lingerDir, 'bob'))).toBe(false);
    expect(fs.readFileSync(join(root, 'etc/group'), 'utf8')).not.toMatch(/^managed:.*bob/m);
  });

  it('with a prefix, a uid above this machine\'s UID_MAX (an image that raised its own) is never signalled: other users\' containers run as such subordinate ids', async () => {
    p = prefixRoot();
    const high = 61_000 + Math.floor(Math.random() * 3000);
    const defs = join(p.root, 'etc/login.defs');
    fs.writeFileSync(defs, fs.readFileSync(defs, 'utf8').replace(/^UID_MAX\s+\d+$/m, 'UID_MAX 99999') + '\nUID_MAX 99999\n');
    p.sh('useradd', '-u', String(high), '-M', 'app');
    const as = ['--reuid', String(high), '--regid', String(high), '--clear-groups'];
    children.push(spawn('setpriv', [...as, 'sleep', '1000'], { cwd: '/', stdio: 'ignore' }));
    for (let i = 0; i < 100 && processesOf(high).length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    const { exec, calls } = faultyExec();
    const tx = transaction('remove app', { journal: memoryJournal(), handleSignals: false, exec });
    tx.add(removeUser({ name: 'app', prefix: p.root }));
    expect((await tx.run()).status).toBe('committed');
    expect(calls.filter((c) => c[0] === 'pkill')).toEqual([]);
    expect(processesOf(high).length).toBeGreaterThanOrEqual(1);
  });

  it('userdel failing with exit 8 (user busy) is retried, then the transaction rolls back: user, home, groups and linger file come back exactly', async () => {
    const root = (await arrange()).root;
    const before = p!.state();
    const busy: Fault = { exitCode: 8, stderr: 'userdel: user bob is currently used by process 4242' };
    const { exec, calls } = faultyExec((spec) => (spec.argv[0] === 'userdel' ? busy : undefined));
    const outcome = await txWith(exec, root).run();
    expect(outcome.status).toBe('rolled-back');
    const step = outcome.steps[0]!;
    expect(step.attempts).toBe(2);
    expect(step.error).toMatchObject({ name: UserBusyError.name, code: 'USER_BUSY', context: { exitCode: 8, argv: expect.arrayContaining(['userdel', '-P', root, 'bob']) } });
    expect(step.error!.context!.stderr).toContain('currently used by process');
    expect(calls.filter((c) => c[0] === 'userdel')).toHaveLength(2);
    expect(processesOf(uid)).toEqual([]);
    expect(p!.state()).toEqual(before);
  });

  it('a transient busy userdel succeeds on the retry', async () => {
    const root = (await arrange()).root;
    let first = true;
    const { exec } = faultyExec((spec) => (spec.argv[0] === 'userdel' && first ? ((first = false), { exitCode: 8, stderr: 'userdel: user bob is currently used by process 1' }) : undefined));
    const outcome = await txWith(exec, root).run();
    expect(outcome.status).toBe('committed');
    expect(outcome.steps[0]!.attempts).toBe(2);
    expect(await lookupUser('bob', { prefix: root })).toBeUndefined();
  });

  it('the real userdel fails after the processes are stopped: rolled back exactly', async () => {
    const root = (await arrange()).root;
    const before = p!.state();
    const { exec } = faultyExec((spec) => (spec.argv[0] === 'userdel' ? 'fail-after' : undefined));
    const tx = transaction('destroy bob', { journal: memoryJournal(), handleSignals: false, exec });
    tx.add(removeUser({ name: 'bob', prefix: root, removeHome: true, graceMs: 300 }, { retry: { do: { retries: 0 } } }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(p!.state()).toEqual(before);
  });
});
