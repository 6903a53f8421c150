/**
 * ensureUser and removeUser on the machine's own user database: no prefix,
 * the real /etc/passwd, /etc/shadow, /etc/group and /etc/gshadow of the test
 * run's throw-away machine, read back through NSS (`getent`, `id`) as any
 * program on the machine would see them. The prefix-root tests beside this
 * file test the same kinds with `-P`; these prove the path a user's installer
 * takes. Other test files of the run add and remove users of their own at the
 * same time, so the state compared is everything that names this test's
 * user: its NSS entries, every database line naming it, its home and its
 * linger file. Each test removes its user and group whatever happened.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defineStep, t } from '@unwind/core';
import { commandOutput as sh, conformanceSuite, failingStep, notInsideMachine, runSteps, treeState } from '@unwind/core/testing';
import { ensureUser, removeUser } from '../src/index.js';

const outside = notInsideMachine();
if (outside) throw new Error(`these tests add and remove users of the machine they run on: ${outside}`);

/** The database lines that name `name`: as the entry's name, or in a group's member or administrator list. */
function linesNaming(file: string, name: string): string[] {
  return fs
    .readFileSync(join('/etc', file), 'utf8')
    .split('\n')
    .filter((line) => {
      const fields = line.split(':');
      return fields[0] === name || fields.slice(2).some((field) => field.split(',').includes(name));
    });
}

/** Everything of `name` the machine shows: NSS answers, database lines, home, linger file. */
function userState(name: string) {
  const home = `/home/${name}`;
  return {
    passwd: sh(['getent', 'passwd', name], [0, 2]),
    shadow: sh(['getent', 'shadow', name], [0, 2]),
    group: sh(['getent', 'group', name], [0, 2]),
    groups: sh(['id', '-nG', name], [0, 1]),
    lines: Object.fromEntries(['passwd', 'shadow', 'group', 'gshadow'].map((file) => [file, linesNaming(file, name)])),
    home: fs.existsSync(home) ? treeState(home) : null,
    linger: fs.existsSync(`/var/lib/systemd/linger/${name}`),
  };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A fresh name, and its user, group and linger file removed after the test whatever happened. */
function freshName(prefix: string): string {
  const name = `${prefix}${randomBytes(3).toString('hex')}`;
  cleanups.push(() => removeEverything(name));
  return name;
}

function removeEverything(name: string): void {
  sh(['userdel', '--remove', name], [0, 6, 12]);
  sh(['groupdel', name], [0, 6]);
  fs.rmSync(`/home/${name}`, { recursive: true, force: true });
  fs.rmSync(`/var/lib/systemd/linger/${name}`, { force: true });
}

/** A group with two other members around `name`, so an undo must put it back in the middle. */
function groupAround(name: string): string {
  const group = `${name}g`;
  const before = `${name}b`;
  const after = `${name}a`;
  cleanups.push(() => {
    for (const user of [before, after]) removeEverything(user);
    sh(['groupdel', group], [0, 6]);
  });
  sh(['groupadd', group]);
  sh(['useradd', '--no-create-home', '--user-group', before]);
  sh(['useradd', '--no-create-home', '--user-group', after]);
  sh(['usermod', '--append', '--groups', group, before]);
  return group;
}

/** A user with a home holding a private file, a shell, a comment, in `group` between two other members, lingering. */
function existingUser(name: string, group: string): void {
  sh(['useradd', '--create-home', '--user-group', '--shell', '/bin/sh', '--comment', 'Carol Example', name]);
  sh(['usermod', '--append', '--groups', group, name]);
  sh(['usermod', '--append', '--groups', group, `${name}a`]);
  const notes = `/home/${name}/notes.txt`;
  fs.writeFileSync(notes, 'keep me\n', { mode: 0o600 });
  const uid = Number(sh(['id', '-u', name]));
  fs.chownSync(notes, uid, uid);
  fs.mkdirSync('/var/lib/systemd/linger', { recursive: true });
  fs.writeFileSync(`/var/lib/systemd/linger/${name}`, '');
}

const run = (...steps: Parameters<typeof runSteps>[1][]) => runSteps('machine users scenario', ...steps);

describe("ensureUser and removeUser on the machine's own user database (no prefix)", () => {
  it('ensureUser: useradd allocates the uid; NSS sees the user, its private group and its groups; the home belongs to it; a rollback leaves no trace', async () => {
    const name = freshName('uwen');
    const initial = userState(name);
    expect(initial.passwd).toBe('');

    const created = await run(ensureUser({ name, shell: '/bin/sh', groups: ['users'], comment: 'Ann Example' }));
    expect(created.status, JSON.stringify(created.steps[0]?.error)).toBe('committed');
    const [, , uid, gid, comment, home, shell] = sh(['getent', 'passwd', name]).split(':');
    expect([comment, home, shell]).toEqual(['Ann Example', `/home/${name}`, '/bin/sh']);
    expect(sh(['getent', 'group', name]).split(':')[2]).toBe(gid);
    expect(sh(['id', '-nG', name]).split(' ').sort()).toEqual([name, 'users'].sort());
    const st = fs.statSync(`/home/${name}`);
    expect([st.uid, st.gid]).toEqual([Number(uid), Number(gid)]);
    removeEverything(name);
    expect(userState(name)).toEqual(initial);

    const rolledBack = await run(ensureUser({ name, shell: '/bin/sh', groups: ['users'], comment: 'Ann Example' }), failingStep({ message: 'a later step fails' }));
    expect(rolledBack.status).toBe('rolled-back');
    expect(userState(name)).toEqual(initial);
  });

  it("ensureUser's undo waits for the created user's last process to end (as a manager logind stops after linger went off): rolled back, not rollback-failed", async () => {
    const name = freshName('uwbz');
    const initial = userState(name);
    let ended: Promise<unknown> | undefined;
    // A process of the new user that outlives the forward steps by 4 s: userdel says "in use" (exit 8) until it ends.
    const processOfTheUser = defineStep({
      type: 'test.processOfTheUser',
      args: t.type({ user: t.string }),
      before: t.null,
      describe: (a) => `run a 4 s process as ${a.user}`,
      prepare: async () => null,
      do: async (a) => {
        const sleeper = spawn('setpriv', [`--reuid=${a.user}`, `--regid=${a.user}`, '--clear-groups', 'sleep', '4'], { stdio: 'ignore' });
        ended = new Promise((resolve) => sleeper.on('exit', (code, signal) => resolve({ code, signal })));
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(sleeper.exitCode).toBe(null);
      },
      undo: async () => {},
    });
    const outcome = await run(ensureUser({ name }), processOfTheUser({ user: name }), failingStep({ message: 'a later step fails' }));
    expect(outcome.status, JSON.stringify(outcome)).toBe('rolled-back');
    expect(await ended).toEqual({ code: 0, signal: null }); // it ended on its own: nothing killed it
    expect(userState(name)).toEqual(initial);
  });

  it('removeUser: the user, its group, its membership, its home and linger go; a rollback puts back every line where it was, the home and the linger file', async () => {
    const name = freshName('uwrm');
    const group = groupAround(name);
    existingUser(name, group);
    const initial = userState(name);
    const members = sh(['getent', 'group', group]);
    expect(members.split(':')[3]).toBe(`${name}b,${name},${name}a`);

    const rolledBack = await run(removeUser({ name, removeHome: true, graceMs: 200 }), failingStep({ message: 'a later step fails' }));
    expect(rolledBack.status).toBe('rolled-back');
    expect(userState(name)).toEqual(initial);
    expect(sh(['getent', 'group', group])).toBe(members);

    const removed = await run(removeUser({ name, removeHome: true, graceMs: 200 }));
    expect(removed.status, JSON.stringify(removed.steps[0]?.error)).toBe('committed');
    const gone = userState(name);
    expect(gone).toEqual({ passwd: '', shadow: '', group: '', groups: '', lines: { passwd: [], shadow: [], group: [], gshadow: [] }, home: null, linger: false });
    expect(sh(['getent', 'group', group]).split(':')[3]).toBe(`${name}b,${name}a`);
    // Nothing of the staged home is left beside /home after the commit.
    expect(fs.readdirSync('/home').filter((entry) => entry.includes(name))).toEqual([]);
  });
});

// The whole contract of both kinds, on the machine's database instead of a prefix root.
conformanceSuite(ensureUser, {
  setup: async () => {
    const name = freshName('uwce');
    return {
      args: { name, shell: '/bin/sh', groups: ['users'], comment: 'Ann Example' },
      state: async () => userState(name),
      cleanup: async () => removeEverything(name),
      // What the step's useradd leaves when killed before it made the home.
      partialDo: async () => void sh(['useradd', '--no-create-home', '--user-group', '--shell', '/bin/sh', '--comment', 'Ann Example', name]),
    };
  },
});

conformanceSuite(removeUser, {
  setup: async () => {
    const name = freshName('uwcr');
    existingUser(name, groupAround(name));
    return {
      args: { name, removeHome: true, graceMs: 200 },
      state: async () => userState(name),
      cleanup: async () => removeEverything(name),
      // What a removeUser interrupted after its userdel leaves (the home staged nowhere yet).
      partialDo: async () => void sh(['userdel', name]),
    };
  },
});
