/**
 * The linger steps against real `loginctl` and systemd-logind in the test
 * run's throw-away machine (systemd as PID 1): linger starts the user's
 * manager, a rollback takes it away again, and the conformance suite runs on
 * the real thing. Each test removes its user whatever happened.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type Step } from '@unwind/core';
import { conformanceSuite, failingStep, notInsideMachine } from '@unwind/core/testing';
import { disableLinger, enableLinger, isLingering } from '../src/index.js';

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
  const t = transaction('linger scenario', { journal: memoryJournal(), handleSignals: false });
  for (const step of steps) t.add(step);
  return t.run();
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A fresh user of the machine, removed (with its linger and manager) after the test. */
function machineUser(): { name: string; uid: number } {
  const name = `uwli${randomBytes(3).toString('hex')}`;
  sh(['useradd', '--create-home', '--user-group', '--shell', '/bin/sh', name]);
  const uid = Number(sh(['id', '-u', name]));
  cleanups.push(() => {
    sh(['loginctl', 'disable-linger', name], [0, 1]);
    sh(['systemctl', 'stop', `user@${uid}.service`], [0, 5]);
    sh(['userdel', '--remove', name], [0, 6, 12]);
  });
  return { name, uid };
}

/** What logind says about the user's linger, and whether the linger file exists. */
function lingerState(name: string) {
  return { file: fs.existsSync(`/var/lib/systemd/linger/${name}`), logind: sh(['loginctl', 'show-user', '-p', 'Linger', '--value', name], [0, 1]) };
}

/** The first value of `read` that `done` accepts within `withinMs`, or the last one read. */
async function settled<T>(read: () => T, done: (value: T) => boolean, withinMs = 10_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  let value = read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = read();
  }
  return value;
}

describe('linger through real loginctl and logind', () => {
  it('enableLinger makes logind start the user manager; a rollback turns linger off again', async () => {
    const { name, uid } = machineUser();
    expect(isLingering(name)).toBe(false);
    const rolled = await run(enableLinger({ user: name }), failingStep({ message: 'a later step fails' }));
    expect(rolled.status).toBe('rolled-back');
    expect(fs.existsSync(`/var/lib/systemd/linger/${name}`)).toBe(false);
    // The rollback's disable-linger makes logind stop the manager the enable had started and drop the user;
    // while that is under way logind does not start it again for a new enable (it would at the next boot,
    // from the linger file), so the enable below starts from a user logind no longer tracks.
    const gone = await settled(() => ({ manager: sh(['systemctl', 'is-active', `user@${uid}.service`], [0, 3]), logind: lingerState(name).logind }), (s) => s.manager !== 'active' && s.manager !== 'activating' && s.manager !== 'deactivating' && s.logind === '', 60_000);
    expect(gone.logind).toBe('');

    expect((await run(enableLinger({ user: name }))).status).toBe('committed');
    // logind answers for the user once it has taken the new linger flag in (at once, or a moment later on a loaded machine).
    expect(await settled(() => lingerState(name), (state) => state.logind === 'yes', 30_000)).toEqual({ file: true, logind: 'yes' });
    sh(['systemctl', '--user', `--machine=${name}@`, 'is-system-running', '--wait'], [0, 1]);
    expect(sh(['systemctl', 'is-active', `user@${uid}.service`], [0, 3])).toBe('active');

    expect((await run(disableLinger({ user: name }))).status).toBe('committed');
    expect(fs.existsSync(`/var/lib/systemd/linger/${name}`)).toBe(false);
  }, 180_000);
});

for (const [kind, lingerFirst] of [[enableLinger, false], [disableLinger, true]] as const) {
  conformanceSuite(kind, {
    setup: async () => {
      const { name } = machineUser();
      if (lingerFirst) sh(['loginctl', 'enable-linger', name]);
      return { args: { user: name }, state: async () => fs.existsSync(`/var/lib/systemd/linger/${name}`), cleanup: async () => {} };
    },
  });
}
