import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, runCommand, transaction, type Step, type StepContext } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';
import { disable, enable, installUnit, isActive, mask, restart, restartOnRollback, start, stop, unitProperties, unitState } from '../src/index.js';
import { placeUnit, purgeUnit, sleeperUnit, snapshot, sysctl, uniqueUnit, userManager } from './fixture.js';


// eslint-disable-next-line @typescript-eslint/no-explicit-any
function tx(...steps: Array<Step<any, any, any>>) {
  const t = transaction('systemd scenario', { journal: memoryJournal(), handleSignals: false });
  for (const s of steps) t.add(s);
  return t.run();
}

describe('against a real systemd user manager', () => {
  const units: string[] = [];
  const fresh = (prefix: string) => {
    const u = uniqueUnit(prefix);
    units.push(u);
    return u;
  };
  afterEach(async () => {
    for (const u of units.splice(0)) await purgeUnit(u);
  });
  const m = () => userManager();

  it('installs, reloads, starts and the unit is active; a rollback restores file, UnitFileState and ActiveState exactly', async () => {
    const unit = fresh('full');
    const initial = await snapshot(unit);
    const outcome = await tx(installUnit({ ...m(), unit, content: sleeperUnit() }), enable({ ...m(), unit }), start({ ...m(), unit, settleMs: 300 }));
    expect(outcome.status).toBe('committed');
    expect(fs.readFileSync(join(m().unitDir!, unit), 'utf8')).toBe(sleeperUnit());
    expect(await isActive(unit, 'user', m())).toBe(true);
    expect(await unitState(unit, 'user', m())).toEqual({ loadState: 'loaded', activeState: 'active', subState: 'running', unitFileState: 'enabled' });
    expect(fs.readlinkSync(join(m().unitDir!, 'default.target.wants', unit))).toBe(join(m().unitDir!, unit));

    await purgeUnit(unit);
    expect(await snapshot(unit)).toEqual(initial);
    const rolled = await tx(installUnit({ ...m(), unit, content: sleeperUnit() }), enable({ ...m(), unit }), start({ ...m(), unit, settleMs: 300 }), failingStep({ message: 'later step fails' }));
    expect(rolled.status).toBe('rolled-back');
    expect(rolled.steps.slice(0, 3).map((s) => s.status)).toEqual(['undone', 'undone', 'undone']);
    expect(await snapshot(unit)).toEqual(initial);
    expect((await unitState(unit, 'user', m())).loadState).toBe('not-found');
  });

  it.each([
    ['ExecStart=/bin/false (fails at once)', '[Service]\nType=simple\nExecStart=/bin/false\n', 'failed', /Result=exit-code, main process exited with status 1$/],
    ['ExecStart=/bin/sleep 0.1 (exits)', '[Service]\nType=simple\nExecStart=/bin/sleep 0.1\n', 'inactive', /Result=success$/],
    ['a program that cannot be run (not executable)', '[Service]\nType=simple\nExecStart=/etc/hostname\n', 'failed', /Result=exit-code, main process exited with status 203\/EXEC$/],
  ])('a unit that dies right after starting is a failure, not a success: %s', async (_name, content, seen, message) => {
    const unit = fresh('dies');
    const initial = await snapshot(unit);
    const outcome = await tx(installUnit({ ...m(), unit, content }), start({ ...m(), unit, settleMs: 500 }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[1]?.error?.name).toBe('UnitNotActiveError');
    expect(outcome.steps[1]?.error?.context).toMatchObject({ unit, ActiveState: seen });
    // How the program ended is in the message: an operator tells "it failed" from "it never ran".
    expect(outcome.steps[1]?.error?.message).toMatch(message);
    // the failed state is cleared and the file removed: exactly as before
    expect(await snapshot(unit)).toEqual(initial);
  });

  it('stop: stops a running unit; its undo starts it again', async () => {
    const unit = fresh('stop');
    await placeUnit(unit, sleeperUnit(), m().unitDir!);
    await sysctl('start', '--', unit);
    const initial = await snapshot(unit);
    expect(await isActive(unit, 'user', m())).toBe(true);

    const rolled = await tx(stop({ ...m(), unit }), failingStep({ message: 'x' }));
    expect(rolled.status).toBe('rolled-back');
    expect(await snapshot(unit)).toEqual(initial);

    const done = await tx(stop({ ...m(), unit }));
    expect(done.status).toBe('committed');
    expect(await unitState(unit, 'user', m())).toMatchObject({ activeState: 'inactive', subState: 'dead' });
  });

  it('enable / disable: symlink under default.target.wants; each undo returns the exact previous tree and UnitFileState', async () => {
    const unit = fresh('enable');
    await placeUnit(unit, sleeperUnit(), m().unitDir!);
    const disabled = await snapshot(unit);
    expect((await unitState(unit, 'user', m())).unitFileState).toBe('disabled');

    expect((await tx(enable({ ...m(), unit }), failingStep({ message: 'x' }))).status).toBe('rolled-back');
    expect(await snapshot(unit)).toEqual(disabled);
    expect(fs.existsSync(join(m().unitDir!, 'default.target.wants'))).toBe(false);

    expect((await tx(enable({ ...m(), unit }))).status).toBe('committed');
    const enabled = await snapshot(unit);
    expect((await unitState(unit, 'user', m())).unitFileState).toBe('enabled');

    expect((await tx(disable({ ...m(), unit }), failingStep({ message: 'x' }))).status).toBe('rolled-back');
    expect(await snapshot(unit)).toEqual(enabled);

    expect((await tx(disable({ ...m(), unit }))).status).toBe('committed');
    expect((await unitState(unit, 'user', m())).unitFileState).toBe('disabled');
  });

  it('enable of a unit without [Install] fails verification (it stays static)', async () => {
    const unit = fresh('static');
    await placeUnit(unit, '[Service]\nExecStart=/bin/sleep 600\n', m().unitDir!);
    const initial = await snapshot(unit);
    const outcome = await tx(enable({ ...m(), unit }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.error?.name).toBe('UnitStateError');
    expect(await snapshot(unit)).toEqual(initial);
  });

  it('mask: a masked unit cannot start; undo unmasks and removes the directory mask created', async () => {
    const unit = fresh('mask');
    await placeUnit(unit, sleeperUnit(), join(m().home!, '.local/share/systemd/user'));
    const initial = await snapshot(unit);

    expect((await tx(mask({ ...m(), unit }), failingStep({ message: 'x' }))).status).toBe('rolled-back');
    expect(await snapshot(unit)).toEqual(initial);

    expect((await tx(mask({ ...m(), unit }))).status).toBe('committed');
    expect(await unitState(unit, 'user', m())).toMatchObject({ loadState: 'masked', unitFileState: 'masked' });
    const refused = await tx(start({ ...m(), unit, settleMs: 0 }));
    expect(refused.status).toBe('rolled-back');
    expect(refused.steps[0]?.error?.context?.stderr).toMatch(/masked/);
  });

  it('mask of a unit whose file is in the config directory fails with systemctl stderr in the report', async () => {
    const unit = fresh('maskcfg');
    await placeUnit(unit, sleeperUnit(), m().unitDir!);
    const initial = await snapshot(unit);
    const outcome = await tx(mask({ ...m(), unit }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.error?.context).toMatchObject({ exitCode: 1 });
    expect(String(outcome.steps[0]?.error?.context?.stderr)).toMatch(/already exists/);
    expect((outcome.steps[0]?.error?.context?.argv as string[]).slice(-3)).toEqual(['mask', '--', unit]);
    expect(await snapshot(unit)).toEqual(initial);
  });

  it('installUnit over an existing file restores its exact bytes and mode; over a mask link restores the link', async () => {
    const unit = fresh('replace');
    const dir = m().unitDir!;
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(join(dir, unit), '[Service]\nExecStart=/bin/sleep 1\n# old\n', { mode: 0o600 });
    fs.chmodSync(join(dir, unit), 0o600);
    await sysctl('daemon-reload');
    const initial = await snapshot(unit);
    const outcome = await tx(installUnit({ ...m(), unit, content: sleeperUnit() }), failingStep({ message: 'x' }));
    expect(outcome.status).toBe('rolled-back');
    expect(await snapshot(unit)).toEqual(initial);
    expect(fs.statSync(join(dir, unit)).mode & 0o777).toBe(0o600);

    fs.rmSync(join(dir, unit));
    fs.symlinkSync('/dev/null', join(dir, unit));
    await sysctl('daemon-reload');
    const masked = await snapshot(unit);
    expect((await unitState(unit, 'user', m())).loadState).toBe('masked');
    expect((await tx(installUnit({ ...m(), unit, content: sleeperUnit() }), failingStep({ message: 'x' }))).status).toBe('rolled-back');
    expect(await snapshot(unit)).toEqual(masked);
    expect(fs.readlinkSync(join(dir, unit))).toBe('/dev/null');
  });

  it('installUnit verify catches a unit systemd cannot load (bad setting) and rolls back', async () => {
    const unit = fresh('bad');
    const initial = await snapshot(unit);
    const outcome = await tx(installUnit({ ...m(), unit, content: '[Service]\nType=simple\n' }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.error?.message).toMatch(/did not load.*bad-setting/);
    expect(await snapshot(unit)).toEqual(initial);
  });

  it('restart: a running unit stays running after rollback; an inactive one is stopped again', async () => {
    const unit = fresh('restart');
    await placeUnit(unit, sleeperUnit(), m().unitDir!);
    const inactive = await snapshot(unit);
    expect((await tx(restart({ ...m(), unit, settleMs: 200 }), failingStep({ message: 'x' }))).status).toBe('rolled-back');
    expect(await snapshot(unit)).toEqual(inactive);

    await sysctl('start', '--', unit);
    const pidBefore = (await sysctl('show', '-p', 'MainPID', '--value', '--', unit)).trim();
    const outcome = await tx(restart({ ...m(), unit, settleMs: 200 }));
    expect(outcome.status).toBe('committed');
    const pidAfter = (await sysctl('show', '-p', 'MainPID', '--value', '--', unit)).trim();
    expect(pidAfter).not.toBe(pidBefore);
    expect(await isActive(unit, 'user', m())).toBe(true);
  });

  it("a rolled-back change of a running unit's definition, then restart: with restartOnRollback first, the unit runs its old command again; without it, the new one", async () => {
    const running = async (unit: string) => {
      const pid = (await sysctl('show', '-p', 'MainPID', '--value', '--', unit)).trim();
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    };
    const newer = sleeperUnit().replace('/bin/sleep 600', '/bin/sleep 601');
    const update = (unit: string, guarded: boolean) =>
      tx(...(guarded ? [restartOnRollback({ ...m(), unit })] : []), installUnit({ ...m(), unit, content: newer }), restart({ ...m(), unit, settleMs: 200 }), failingStep({ message: 'a later step fails' }));
    for (const guarded of [false, true]) {
      const unit = fresh(guarded ? 'guarded' : 'bare');
      await placeUnit(unit, sleeperUnit(), m().unitDir!);
      await sysctl('start', '--', unit);
      expect(await running(unit)).toBe('/bin/sleep 600');
      expect((await update(unit, guarded)).status).toBe('rolled-back');
      expect(fs.readFileSync(join(m().unitDir!, unit), 'utf8')).toBe(sleeperUnit());
      expect(await isActive(unit, 'user', m())).toBe(true);
      // The trap restartOnRollback closes: the restart's undo ran while the new file was loaded.
      expect(await running(unit), guarded ? 'guarded' : 'bare').toBe(guarded ? '/bin/sleep 600' : '/bin/sleep 601');
    }
  });

  it("stop's undo starts a unit whose own stop job is still queued (it still shows active): the job would stop it after the undo", async () => {
    // A killed run's systemctl can leave such a job: the manager had its request, the run died. Here it is
    // made on purpose: A's stop waits for the slow stop of B (A is ordered before B, so it stops after it).
    const a = fresh('queued');
    const b = fresh('slowstop');
    await placeUnit(b, sleeperUnit().replace('ExecStart=/bin/sleep 600', 'ExecStart=/bin/sleep 600\nExecStop=/bin/sleep 2'), m().unitDir!);
    await placeUnit(a, sleeperUnit().replace('[Service]', `Before=${b}\n\n[Service]`), m().unitDir!);
    await sysctl('start', '--', a, b);
    const before = await unitState(a, 'user', m());
    expect(before.activeState).toBe('active');
    await sysctl('stop', '--no-block', '--', b, a);
    const queued = await unitProperties(a, ['ActiveState', 'Job'], 'user', m());
    expect(queued.ActiveState).toBe('active');
    expect(Number(queued.Job)).toBeGreaterThan(0); // the case under test: a stop job queued, the unit still active
    const context = { exec: runCommand, signal: new AbortController().signal, log: () => {}, phase: 'undo' } as unknown as StepContext;
    await stop.definition.undo({ ...m(), unit: a }, before, undefined, context);
    // Once B's slow stop is over and no job is left for A, A must still be up.
    for (let tries = 0; tries < 100; tries++) {
      const [bNow, aNow] = [await unitState(b, 'user', m()), await unitProperties(a, ['ActiveState', 'Job'], 'user', m())];
      if (bNow.activeState === 'inactive' && !(Number(aNow.Job) > 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await unitState(b, 'user', m())).activeState).toBe('inactive');
    expect(await unitProperties(a, ['ActiveState', 'Job'], 'user', m())).toMatchObject({ ActiveState: 'active' });
  });

  it('restartOnRollback leaves alone a unit the transaction never restarted, and one that was not running', async () => {
    const unit = fresh('untouched');
    await placeUnit(unit, sleeperUnit(), m().unitDir!);
    const stopped = await snapshot(unit);
    expect((await tx(restartOnRollback({ ...m(), unit }), failingStep({ message: 'x' }))).status).toBe('rolled-back');
    expect(await snapshot(unit)).toEqual(stopped);
    await sysctl('start', '--', unit);
    const invocation = (await unitProperties(unit, ['InvocationID'], 'user', m())).InvocationID;
    expect((await tx(restartOnRollback({ ...m(), unit }), failingStep({ message: 'x' }))).status).toBe('rolled-back');
    expect((await unitProperties(unit, ['InvocationID'], 'user', m())).InvocationID).toBe(invocation);
  });

  it('probes read the real state', async () => {
    const unit = fresh('probe');
    expect(await unitState(unit, 'user', m())).toEqual({ loadState: 'not-found', activeState: 'inactive', subState: 'dead', unitFileState: '' });
    expect(await isActive(unit, 'user', m())).toBe(false);
  });
});
