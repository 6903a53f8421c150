/**
 * What the tests that run inside the throw-away machine share: a command run
 * for set-up or a check, a wait for the machine to settle, and a fresh user of
 * the machine that goes away whatever the test did. One place, so a fix to
 * how a test user is removed (linger, its manager, its processes) reaches
 * every such test.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs `argv` (never a shell string) with a plain environment and returns its
 * trimmed standard output; throws with its standard error unless it exited
 * with one of `exitCodes`. For tests' set-up and checks, not for the library.
 *
 * @example
 * ```ts
 * const passwdLine = commandOutput(['getent', 'passwd', name], [0, 2]); // '' when there is none
 * ```
 */
export function commandOutput(argv: readonly string[], exitCodes: readonly number[] = [0]): string {
  const [program, ...args] = argv as [string, ...string[]];
  const result = spawnSync(program, args, { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
  if (!exitCodes.includes(result.status ?? -1)) throw new Error(`${argv.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr}`);
  return result.stdout.trim();
}

/**
 * The first value of `read` that `done` accepts within `withinMs`, or the
 * last one read: logind and the managers act after a command returns, so a
 * check polls, and the test's own assertion reports what was last seen.
 *
 * @example
 * ```ts
 * expect(await settled(() => isLingering(name), (lingering) => !lingering)).toBe(false);
 * ```
 */
export async function settled<T>(read: () => T, done: (value: T) => boolean, withinMs = 10_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  let value = read();
  while (!done(value) && Date.now() < deadline) {
    await sleep(100);
    value = read();
  }
  return value;
}

/**
 * Waits until `check` holds; throws naming `what` after `withinMs`.
 *
 * @example
 * ```ts
 * await waitFor(`a logind session of ${name}`, () => sessionsOf(name) !== '');
 * ```
 */
export async function waitFor(what: string, check: () => boolean, withinMs = 15_000): Promise<void> {
  if (!(await settled(check, (value) => value, withinMs))) throw new Error(`timed out waiting for ${what}`);
}

/**
 * A user created by {@link machineUser}.
 *
 * @example
 * ```ts
 * const { name, uid, remove }: MachineUser = machineUser('uwex');
 * ```
 */
export interface MachineUser {
  readonly name: string;
  readonly uid: number;
  /** Removes the user with its linger, manager, sessions, processes and home; safe to call twice. */
  readonly remove: () => void;
}

/**
 * A fresh user of the machine (home, user group, `/bin/sh`) named `prefix`
 * and six random hex digits. The caller registers `remove` for after the
 * test, so the user goes whatever happened: linger off, sessions ended, every
 * process killed, the manager stopped, the account and home deleted. Only
 * inside the throw-away machine: check {@link notInsideMachine} first.
 *
 * @example
 * ```ts
 * const user = machineUser('uwli');
 * onTestFinished(user.remove);
 * ```
 */
export function machineUser(prefix: string): MachineUser {
  const name = `${prefix}${randomBytes(3).toString('hex')}`;
  commandOutput(['useradd', '--create-home', '--user-group', '--shell', '/bin/sh', name]);
  const uid = Number(commandOutput(['id', '-u', name]));
  const remove = () => {
    commandOutput(['loginctl', 'disable-linger', name], [0, 1]);
    commandOutput(['loginctl', 'terminate-user', name], [0, 1]);
    // Kill first: a manager stopping its units in order can take its stop timeouts
    // on a loaded machine; with every process of the uid gone, the stop below is quick.
    // Only this machine's (--ns: this PID namespace): a nested machine's processes of the same uid belong to another test.
    commandOutput(['pkill', '-KILL', '--ns', String(process.pid), '--nslist', 'pid', '-U', String(uid)], [0, 1]);
    commandOutput(['systemctl', 'stop', `user@${uid}.service`], [0, 5]);
    // A manager killed above ends `failed`; the next test's user may get the same uid.
    commandOutput(['systemctl', 'reset-failed', `user@${uid}.service`, `user-runtime-dir@${uid}.service`], [0, 1, 5]);
    commandOutput(['userdel', '--remove', name], [0, 6, 12]);
    fs.rmSync(`/var/lib/systemd/linger/${name}`, { force: true });
  };
  return { name, uid, remove };
}
