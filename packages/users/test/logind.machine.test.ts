/**
 * removeUser on the real user database of the test run's throw-away machine
 * (systemd as PID 1, real logind): a user with a live login session, running
 * processes, lingering and a running user@UID.service. The manager is stopped
 * first, every process ends, linger goes with the user; a rollback puts the
 * user and its linger file back. Each test removes its user whatever happened.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type Step } from '@unwind/core';
import { failingStep, notInsideMachine } from '@unwind/core/testing';
import { removeUser } from '../src/index.js';

const outside = notInsideMachine();
if (outside) throw new Error(`these tests add and remove users of the machine they run on: ${outside}`);

function sh(argv: string[], ok: number[] = [0]): string {
  const [program, ...args] = argv as [string, ...string[]];
  const result = spawnSync(program, args, { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
  if (!ok.includes(result.status ?? -1)) throw new Error(`${argv.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr}`);
  return result.stdout.trim();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function run(...steps: Array<Step<any, any, any>>) {
  const t = transaction('logind scenario', { journal: memoryJournal(), handleSignals: false });
  for (const step of steps) t.add(step);
  return t.run();
}

/** Pids of the processes owned by `uid` in this machine. */
function processesOf(uid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return fs.statSync(`/proc/${entry}`).uid === uid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The ids of the user's logind sessions ('' when none, or when logind no longer knows the user). */
function sessionsOf(name: string): string {
  return sh(['loginctl', 'show-user', '-p', 'Sessions', '--value', name], [0, 1]);
}

async function until(what: string, check: () => boolean, withinMs = 15_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A machine user with linger on, a running user manager, and a live login session running `sleep`. */
async function loggedInUser() {
  const name = `uwlg${randomBytes(3).toString('hex')}`;
  sh(['useradd', '--create-home', '--user-group', '--shell', '/bin/sh', name]);
  const uid = Number(sh(['id', '-u', name]));
  cleanups.push(() => {
    sh(['loginctl', 'disable-linger', name], [0, 1]);
    sh(['loginctl', 'terminate-user', name], [0, 1]);
    sh(['systemctl', 'stop', `user@${uid}.service`], [0, 5]);
    sh(['pkill', '-KILL', '-U', String(uid)], [0, 1]);
    sh(['userdel', '--remove', name], [0, 6, 12]);
    fs.rmSync(`/var/lib/systemd/linger/${name}`, { force: true });
  });
  sh(['loginctl', 'enable-linger', name]);
  sh(['systemctl', '--user', `--machine=${name}@`, 'is-system-running', '--wait'], [0, 1]);
  // A real PAM login (pam_systemd registers the session with logind), left running.
  const login = spawn('runuser', ['-l', name, '-c', 'sleep 1000'], { stdio: 'ignore', detached: true });
  login.unref();
  await until(`a logind session of ${name}`, () => sessionsOf(name) !== '');
  return { name, uid };
}

describe('removeUser with a live logind session (real logind, user@UID.service, linger)', () => {
  it('stops the manager first, ends every process and the session, removes the user and its linger; nothing of the uid is left', async () => {
    const { name, uid } = await loggedInUser();
    expect(sh(['systemctl', 'is-active', `user@${uid}.service`], [0, 3])).toBe('active');
    expect(processesOf(uid).length).toBeGreaterThan(0);
    expect(fs.existsSync(`/var/lib/systemd/linger/${name}`)).toBe(true);

    const outcome = await run(removeUser({ name, removeHome: true, graceMs: 1000 }));
    expect(outcome.status, JSON.stringify(outcome.steps[0]?.error)).toBe('committed');
    expect(sh(['getent', 'passwd', name], [0, 2])).toBe('');
    expect(fs.existsSync(`/var/lib/systemd/linger/${name}`)).toBe(false);
    expect(sh(['systemctl', 'is-active', `user@${uid}.service`], [0, 3])).not.toBe('active');
    await until(`every process of uid ${uid} to end`, () => processesOf(uid).length === 0, 5000);
    await until(`the session of ${name} to close`, () => sessionsOf(name) === '', 5000);
  });

  it('a rollback puts the user and its linger file back', async () => {
    const { name, uid } = await loggedInUser();
    const passwdLine = sh(['getent', 'passwd', name]);
    const outcome = await run(removeUser({ name, graceMs: 1000 }), failingStep({ message: 'a later step fails' }));
    expect(outcome.status).toBe('rolled-back');
    expect(sh(['getent', 'passwd', name])).toBe(passwdLine);
    expect(fs.existsSync(`/var/lib/systemd/linger/${name}`)).toBe(true);
    expect(Number(sh(['id', '-u', name]))).toBe(uid);
  });
});
