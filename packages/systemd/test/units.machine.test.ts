/**
 * The steps against the machine's own managers (the test run's throw-away
 * machine, systemd as PID 1): the system scope with units in
 * /etc/systemd/system, and another user's manager, a real user@UID.service
 * started by `startUserManager` and reached with `--machine=USER@`. Every test
 * removes its units and users, whatever happened.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type CommandRunner, type Step } from '@unwind/core';
import { conformanceSuite, failingStep, treeState } from '@unwind/core/testing';
import { disable, enable, installUnit, start, startUserManager, unitState } from '../src/index.js';
import { injectingExec, sleeperUnit, uniqueUnit } from './fixture.js';

const SYSTEM_UNITS = '/etc/systemd/system';

/** Runs a command for set-up or a check; throws with its stderr unless the exit code is allowed. */
function sh(argv: string[], ok: number[] = [0]): string {
  const [program, ...args] = argv as [string, ...string[]];
  const result = spawnSync(program, args, { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
  if (!ok.includes(result.status ?? -1)) throw new Error(`${argv.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr}`);
  return result.stdout.trim();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function run(...steps: Array<Step<any, any, any>>) {
  return runWith(undefined, ...steps);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function runWith(exec: CommandRunner | undefined, ...steps: Array<Step<any, any, any>>) {
  const t = transaction('machine scenario', { journal: memoryJournal(), handleSignals: false, ...(exec ? { exec } : {}) });
  for (const step of steps) t.add(step);
  return t.run();
}

/** What a system-scope step may change: the unit directory and the unit's state in the system manager. */
async function systemState(unit: string) {
  return { tree: treeState(SYSTEM_UNITS), state: await unitState(unit, 'system', {}) };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A fresh system unit name, stopped, disabled and removed after the test. */
function systemUnit(prefix: string): string {
  const unit = uniqueUnit(prefix);
  cleanups.push(() => {
    sh(['systemctl', 'stop', '--', unit], [0, 1, 5]);
    sh(['systemctl', 'disable', '--', unit], [0, 1]);
    fs.rmSync(join(SYSTEM_UNITS, unit), { force: true });
    sh(['systemctl', 'daemon-reload']);
    sh(['systemctl', 'reset-failed', '--', unit], [0, 1]);
  });
  return unit;
}

/** A fresh user in the machine's /etc/passwd; its manager is stopped and the user removed after the test. */
function machineUser(): { name: string; uid: number; home: string } {
  const name = `uwsd${randomBytes(3).toString('hex')}`;
  sh(['useradd', '--create-home', '--user-group', '--shell', '/bin/sh', name]);
  const [, , uid, , , home] = sh(['getent', 'passwd', name]).split(':') as [string, string, string, string, string, string];
  cleanups.push(() => {
    sh(['loginctl', 'disable-linger', name], [0, 1]);
    sh(['systemctl', 'stop', `user@${uid}.service`], [0, 5]);
    sh(['userdel', '--remove', name], [0, 6, 12]);
  });
  return { name, uid: Number(uid), home };
}

describe('the system manager (scope system, /etc/systemd/system)', () => {
  it('installs, enables and starts a unit; the enablement survives a re-executed manager; a rollback restores files, links and state exactly', async () => {
    const unit = systemUnit('system');
    const initial = await systemState(unit);
    expect(initial.state.loadState).toBe('not-found');

    const rolled = await run(installUnit({ unit, content: sleeperUnit() }), enable({ unit }), start({ unit, settleMs: 300 }), failingStep({ message: 'a later step fails' }));
    expect(rolled.status).toBe('rolled-back');
    expect(await systemState(unit)).toEqual(initial);

    const committed = await run(installUnit({ unit, content: sleeperUnit() }), enable({ unit }), start({ unit, settleMs: 300 }));
    expect(committed.status).toBe('committed');
    expect(await unitState(unit, 'system', {})).toEqual({ loadState: 'loaded', activeState: 'active', subState: 'running', unitFileState: 'enabled' });
    expect(fs.readlinkSync(join(SYSTEM_UNITS, 'default.target.wants', unit))).toBe(join(SYSTEM_UNITS, unit));
    // The manager re-reads everything from disk: what was enabled is still enabled, the unit still runs.
    sh(['systemctl', 'daemon-reexec']);
    expect(await unitState(unit, 'system', {})).toMatchObject({ activeState: 'active', unitFileState: 'enabled' });

    expect((await run(disable({ unit }))).status).toBe('committed');
    sh(['systemctl', 'daemon-reexec']);
    expect((await unitState(unit, 'system', {})).unitFileState).toBe('disabled');
    expect(fs.existsSync(join(SYSTEM_UNITS, 'default.target.wants', unit))).toBe(false);
  });

  it('a unit that dies right after it started is a failure: rolled back to no unit at all', async () => {
    const unit = systemUnit('dies');
    const initial = await systemState(unit);
    const outcome = await run(installUnit({ unit, content: '[Service]\nType=simple\nExecStart=/bin/sh -c "sleep 0.1; exit 3"\n' }), start({ unit, settleMs: 800 }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[1]?.error?.name).toBe('UnitNotActiveError');
    expect(await systemState(unit)).toEqual(initial);
  });

  it('a unit the manager rejects (a setting it cannot parse) is refused and rolled back before it ever starts', async () => {
    const unit = systemUnit('rejected');
    const initial = await systemState(unit);
    const outcome = await run(installUnit({ unit, content: '[Service]\nType=no-such-type\nExecStart=relative/path\n' }), start({ unit }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.error?.message).toMatch(/did not load/);
    expect(outcome.steps[1]?.error).toBeUndefined();
    expect(await systemState(unit)).toEqual(initial);
  });
});

describe("another user's manager: startUserManager and scope { user } through --machine=USER@", () => {
  it('starts the real user@UID.service and waits for it; units run in it; a rollback stops it and removes the units', async () => {
    const user = machineUser();
    const service = `user@${user.uid}.service`;
    const unit = uniqueUnit('user');
    const scope = { user: user.name };
    const unitFile = join(user.home, '.config/systemd/user', unit);
    expect((await unitState(service, 'system', {})).activeState).toBe('inactive');

    const rolled = await run(startUserManager({ user: user.name }), installUnit({ scope, unit, content: sleeperUnit() }), start({ scope, unit, settleMs: 300 }), failingStep({ message: 'a later step fails' }));
    expect(rolled.status).toBe('rolled-back');
    expect((await unitState(service, 'system', {})).activeState).toBe('inactive');
    expect(fs.existsSync(unitFile)).toBe(false);

    const committed = await run(startUserManager({ user: user.name }), installUnit({ scope, unit, content: sleeperUnit() }), start({ scope, unit, settleMs: 300 }));
    expect(committed.status).toBe('committed');
    expect((await unitState(service, 'system', {})).activeState).toBe('active');
    expect(await unitState(unit, scope, {})).toMatchObject({ loadState: 'loaded', activeState: 'active', subState: 'running' });
    // The unit file belongs to the user, and its process runs as the user, under their manager.
    expect(fs.statSync(unitFile).uid).toBe(user.uid);
    const pid = sh(['systemctl', '--user', `--machine=${user.name}@`, 'show', '-p', 'MainPID', '--value', '--', unit]);
    expect(fs.statSync(`/proc/${pid}`).uid).toBe(user.uid);
  });

  it('enable in the user scope persists across a restart of the user manager', async () => {
    const user = machineUser();
    const scope = { user: user.name };
    const unit = uniqueUnit('persist');
    expect((await run(startUserManager({ user: user.name }), installUnit({ scope, unit, content: sleeperUnit() }), enable({ scope, unit }))).status).toBe('committed');
    sh(['systemctl', 'restart', `user@${user.uid}.service`]);
    sh(['systemctl', '--user', `--machine=${user.name}@`, 'is-system-running', '--wait'], [0, 1]);
    expect(await unitState(unit, scope, {})).toMatchObject({ unitFileState: 'enabled', activeState: 'active' });
  });

  it('a manager that already runs (linger) is not started again, and a rollback leaves it running', async () => {
    const user = machineUser();
    sh(['loginctl', 'enable-linger', user.name]);
    sh(['systemctl', '--user', `--machine=${user.name}@`, 'is-system-running', '--wait'], [0, 1]);
    const mainPid = sh(['systemctl', 'show', '-p', 'MainPID', '--value', `user@${user.uid}.service`]);
    expect(Number(mainPid)).toBeGreaterThan(0);
    const outcome = await run(startUserManager({ user: user.name }), failingStep({ message: 'later' }));
    expect(outcome.status).toBe('rolled-back');
    expect(sh(['systemctl', 'show', '-p', 'MainPID', '--value', `user@${user.uid}.service`])).toBe(mainPid);
  });

  it('a manager that does not answer is-system-running ("unknown": the --machine=USER@ hop dropped) is asked again; one that never answers fails the step with UserManagerUnreachableError and is stopped again', async () => {
    const once = machineUser();
    const first = injectingExec({ verb: 'is-system-running', mode: 'unanswered', times: 1 });
    cleanups.push(first.cleanup);
    const answered = await runWith(first.exec, startUserManager({ user: once.name }));
    expect(answered.status).toBe('committed');
    expect(answered.steps[0]?.attempts).toBe(2);
    expect(sh(['systemctl', 'is-active', `user@${once.uid}.service`], [0, 3])).toBe('active');

    const never = machineUser();
    const always = injectingExec({ verb: 'is-system-running', mode: 'unanswered', times: 5 });
    cleanups.push(always.cleanup);
    const outcome = await runWith(always.exec, startUserManager({ user: never.name }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.attempts).toBe(5);
    expect(outcome.steps[0]?.error?.name).toBe('UserManagerUnreachableError');
    expect(outcome.steps[0]?.error?.message).toContain('Failed to query system state');
    expect(sh(['systemctl', 'is-active', `user@${never.uid}.service`], [0, 3])).not.toBe('active');
  });

  it("a unit the manager needs fails (its runtime directory): UserManagerDependencyError names it and what systemd reported, not only systemctl's \"a dependency job failed\"", async () => {
    const user = machineUser();
    const runtimeDir = `user-runtime-dir@${user.uid}.service`;
    const dropIn = `/run/systemd/system/${runtimeDir}.d`;
    fs.mkdirSync(dropIn, { recursive: true });
    fs.writeFileSync(join(dropIn, 'unwind-test-fails.conf'), '[Service]\nExecStartPre=/bin/false\n');
    cleanups.push(() => {
      fs.rmSync(dropIn, { recursive: true, force: true });
      sh(['systemctl', 'daemon-reload']);
      sh(['systemctl', 'reset-failed', '--', runtimeDir], [0, 1]);
    });
    sh(['systemctl', 'daemon-reload']);
    const outcome = await run(startUserManager({ user: user.name }));
    expect(outcome.status).toBe('rolled-back');
    const error = outcome.steps[0]?.error;
    expect(error?.name).toBe('UserManagerDependencyError');
    expect(error?.code).toBe('USER_MANAGER_DEPENDENCY');
    expect(error?.message).toContain(`did not start: a unit it needs failed: ${runtimeDir} ActiveState=failed Result=exit-code`);
    expect(error?.context).toMatchObject({ user: user.name, unit: `user@${user.uid}.service`, failed: { [runtimeDir]: { ActiveState: 'failed', Result: 'exit-code' } } });
    expect(sh(['systemctl', 'is-active', `user@${user.uid}.service`], [0, 3])).not.toBe('active');
  });

  it('an unknown user fails before anything changes', async () => {
    const outcome = await run(startUserManager({ user: `uwnone${randomBytes(3).toString('hex')}` }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.error?.name).toBe('UserNotFoundError');
  });
});

conformanceSuite(startUserManager, {
  setup: async () => {
    const user = machineUser();
    const service = `user@${user.uid}.service`;
    return {
      args: { user: user.name },
      state: async () => (await unitState(service, 'system', {})).activeState,
      cleanup: async () => {},
    };
  },
});
