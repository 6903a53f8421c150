import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type Outcome, type Step } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';
import { ensureGroup, ensureUser, removeUser } from '@unwind/users';
import { accountsSandbox, DENY, machineHashes, type AccountsSandbox } from './accounts-sandbox.js';

// Undo is compare-and-swap and field-level: an admin's edit made while the
// transaction ran is kept, and a field the step changed that someone else
// changed again is an UndoConflictError (rollback-failed), never
// overwritten. Real shadow tools on a -P prefix root; the "admin" uses
// them too, from the rollback:start event (after do, before undo).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStep = Step<any, any, any>;

let machine: Record<string, string>;
beforeAll(() => {
  machine = machineHashes();
});
afterAll(() => {
  expect(machineHashes()).toEqual(machine);
});

let sb: AccountsSandbox | undefined;
afterEach(() => {
  sb?.cleanup();
  sb = undefined;
});

const admin = (root: string, tool: string, ...args: string[]) => execFileSync(tool, ['-P', root, ...args], { stdio: 'ignore' });

/** Runs `step` and a failing step; `meanwhile` runs as the rollback starts, as an admin would. */
async function rollBackWith(step: AnyStep, meanwhile: () => void): Promise<Outcome> {
  const tx = transaction('cas', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
  tx.on((e) => {
    if (e.type === 'rollback:start') meanwhile();
  });
  tx.add(step);
  tx.add(failingStep({ message: 'a later step fails' }));
  return tx.run();
}

describe('users undo is compare-and-swap', () => {
  it("an admin's password change during the transaction is kept; the step's own change is undone", async () => {
    sb = accountsSandbox();
    const s = sb;
    const guarded = s.guarded(['carol']);
    const outcome = await rollBackWith(ensureUser({ name: 'carol', prefix: s.root, protect: DENY, shell: '/bin/bash', comment: 'Carol C.' }), () => admin(s.root, 'usermod', '-p', '$6$new$adminschoice', 'carol'));
    expect(outcome.status).toBe('rolled-back');
    expect(s.line('passwd', 'carol')).toBe('carol:x:1501:1501:Carol:/home/carol:/bin/sh');
    expect(s.line('shadow', 'carol')).toMatch(/^carol:\$6\$new\$adminschoice:\d+:0:99999:7:::$/);
    expect(s.guarded(['carol'])).toEqual(guarded);
  });

  it('rolling back removeUser does not give carol back a membership an admin revoked meanwhile; dave gets back only his own', async () => {
    sb = accountsSandbox();
    const s = sb;
    const before = { managed: s.line('group', 'managed'), users: s.line('group', 'users'), passwd: s.line('passwd', 'dave'), shadow: s.line('shadow', 'dave') };
    expect(before.managed).toBe('managed:x:1600:carol,daemon,dave');
    const outcome = await rollBackWith(removeUser({ name: 'dave', prefix: s.root, protect: DENY, removeHome: true, stopProcesses: false, lingerDir: s.lingerDir }), () => admin(s.root, 'usermod', '-r', '-G', 'managed', 'carol'));
    expect(outcome.status).toBe('rolled-back');
    expect(s.line('group', 'managed')).toBe('managed:x:1600:daemon,dave');
    expect(s.line('gshadow', 'managed')).toBe('managed:!::daemon,dave');
    expect(s.line('group', 'users')).toBe(before.users);
    expect(s.line('passwd', 'dave')).toBe(before.passwd);
    expect(s.line('shadow', 'dave')).toBe(before.shadow);
  });

  it('a field the step changed and an admin changed again: rollback-failed with UNDO_CONFLICT naming the account and both values; the admin value stays', async () => {
    sb = accountsSandbox();
    const s = sb;
    const outcome = await rollBackWith(ensureUser({ name: 'carol', prefix: s.root, protect: DENY, shell: '/bin/bash' }), () => admin(s.root, 'usermod', '-s', '/bin/zsh', 'carol'));
    expect(outcome.status).toBe('rollback-failed');
    const error = outcome.steps[0]!.undo!.error!;
    expect(error.code).toBe('UNDO_CONFLICT');
    expect(error.message).toContain('user "carol"');
    expect(error.message).toContain('/bin/bash');
    expect(error.message).toContain('/bin/zsh');
    expect(s.line('passwd', 'carol')).toBe('carol:x:1501:1501:Carol:/home/carol:/bin/zsh');
  });

  it('an account the step created and an admin then edited is not deleted: UNDO_CONFLICT, the account and its home stay', async () => {
    sb = accountsSandbox();
    const s = sb;
    const outcome = await rollBackWith(ensureUser({ name: 'newbie', prefix: s.root, protect: DENY, uid: 4100 }), () => admin(s.root, 'usermod', '-c', 'now in use', 'newbie'));
    expect(outcome.status).toBe('rollback-failed');
    expect(outcome.steps[0]!.undo!.error!.code).toBe('UNDO_CONFLICT');
    expect(s.line('passwd', 'newbie')).toBe('newbie:x:4100:4100:now in use:/home/newbie:/bin/sh');
  });

  it('a removed account whose name an admin gave to someone else meanwhile is not put back over it: UNDO_CONFLICT', async () => {
    sb = accountsSandbox();
    const s = sb;
    const outcome = await rollBackWith(removeUser({ name: 'dave', prefix: s.root, protect: DENY, stopProcesses: false, lingerDir: s.lingerDir }), () => admin(s.root, 'useradd', '-l', '-M', '-u', '4200', 'dave'));
    expect(outcome.status).toBe('rollback-failed');
    expect(outcome.steps[0]!.undo!.error!.code).toBe('UNDO_CONFLICT');
    expect(s.line('passwd', 'dave')).toMatch(/^dave:x:4200:/);
  });

  it('a group the step created that an admin then gave a member is not deleted: UNDO_CONFLICT', async () => {
    sb = accountsSandbox();
    const s = sb;
    const outcome = await rollBackWith(ensureGroup({ name: 'fresh', prefix: s.root, protect: DENY }), () => admin(s.root, 'usermod', '-a', '-G', 'fresh', 'carol'));
    expect(outcome.status).toBe('rollback-failed');
    expect(outcome.steps[0]!.undo!.error!.code).toBe('UNDO_CONFLICT');
    expect(s.line('group', 'fresh')).toMatch(/^fresh:x:\d+:carol$/);
  });
});
