import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type Outcome, type Step } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';
import { ensureGroup, ensureUser, removeUser } from '@unwind/users';
import { disableLinger, enableLinger } from '@unwind/linger';
import { accountsSandbox, DENY, machineHashes, type AccountsSandbox } from './accounts-sandbox.js';
import { filesSandbox } from './files-sandbox.js';

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

describe('linger undo is compare-and-swap', () => {
  function lingerSandbox() {
    const files = filesSandbox();
    const lingerDir = join(files.dir, 'linger');
    const calls = join(files.dir, 'calls.log');
    fs.mkdirSync(lingerDir);
    const loginctl = join(files.dir, 'loginctl');
    // What loginctl does to the linger directory, and a record of every call.
    fs.writeFileSync(loginctl, `#!/bin/sh\necho "$*" >> '${calls}'\ncase "$1" in\n  enable-linger) : > '${lingerDir}'/"$2" ;;\n  disable-linger) rm -f '${lingerDir}'/"$2" ;;\nesac\n`, { mode: 0o755 });
    return { files, lingerDir, loginctl, calls: () => (fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : []) };
  }

  const cases = [
    { name: 'enable that found linger on (changed nothing); the admin turns it off: stays off, loginctl not run by undo', kind: enableLinger, was: true, admin: false as boolean | undefined, after: false, calls: [] as string[] },
    { name: 'disable that found linger off (changed nothing); the admin turns it on: stays on', kind: disableLinger, was: false, admin: true, after: true, calls: [] },
    { name: 'enable that turned linger on; the admin turned it off again: already back, no call', kind: enableLinger, was: false, admin: false, after: false, calls: ['enable-linger app'] },
    { name: 'enable that turned linger on, nobody else: undo turns it off', kind: enableLinger, was: false, admin: undefined, after: false, calls: ['enable-linger app', 'disable-linger app'] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const s = lingerSandbox();
      try {
        if (c.was) fs.writeFileSync(join(s.lingerDir, 'app'), '');
        const decoy = s.files.decoyState();
        const outcome = await rollBackWith(c.kind({ user: 'app', lingerDir: s.lingerDir, loginctl: s.loginctl }), () => {
          if (c.admin === true) fs.writeFileSync(join(s.lingerDir, 'app'), '');
          if (c.admin === false) fs.rmSync(join(s.lingerDir, 'app'), { force: true });
        });
        expect(outcome.status).toBe('rolled-back');
        expect(fs.existsSync(join(s.lingerDir, 'app'))).toBe(c.after);
        expect(s.calls()).toEqual(c.calls);
        expect(s.files.decoyState()).toEqual(decoy);
      } finally {
        s.files.cleanup();
      }
    });
  }
});

describe('users undo removes only the lines its step made: an orphaned line found before the step stays', () => {
  it('a gshadow line without its group line, there before ensureGroup: still there, exactly, after the rollback', async () => {
    sb = accountsSandbox();
    const s = sb;
    fs.appendFileSync(join(s.root, 'etc/gshadow'), 'ghost:!:admin:\n');
    const guarded = s.guarded();
    const outcome = await rollBackWith(ensureGroup({ name: 'ghost', prefix: s.root, protect: DENY }), () => {});
    expect(outcome.status).toBe('rolled-back');
    expect(s.line('group', 'ghost')).toBeUndefined();
    expect(s.line('gshadow', 'ghost')).toBe('ghost:!:admin:');
    expect(fs.readFileSync(join(s.root, 'etc/gshadow'), 'utf8').split('\n').filter((l) => l.startsWith('ghost:'))).toEqual(['ghost:!:admin:']);
    expect(s.guarded()).toEqual(guarded);
  });

  it('a shadow line without its passwd line, and a gshadow line without its group line, there before ensureUser: both still there after the rollback', async () => {
    sb = accountsSandbox();
    const s = sb;
    fs.appendFileSync(join(s.root, 'etc/shadow'), 'spook:$6$orphan$kept:19000:0:99999:7:::\n');
    fs.appendFileSync(join(s.root, 'etc/gshadow'), 'spook:!::\n');
    const guarded = s.guarded();
    const outcome = await rollBackWith(ensureUser({ name: 'spook', prefix: s.root, protect: DENY }), () => {});
    expect(outcome.status).toBe('rolled-back');
    expect(s.line('passwd', 'spook')).toBeUndefined();
    expect(s.line('group', 'spook')).toBeUndefined();
    expect(s.line('shadow', 'spook')).toBe('spook:$6$orphan$kept:19000:0:99999:7:::');
    expect(s.line('gshadow', 'spook')).toBe('spook:!::');
    expect(s.guarded()).toEqual(guarded);
  });

  it('without an orphan, the rollback still leaves no line of the account behind', async () => {
    sb = accountsSandbox();
    const s = sb;
    const outcome = await rollBackWith(ensureUser({ name: 'fresh', prefix: s.root, protect: DENY }), () => {});
    expect(outcome.status).toBe('rolled-back');
    for (const file of ['passwd', 'shadow', 'group', 'gshadow'] as const) expect(s.line(file, 'fresh')).toBeUndefined();
  });
});
