/**
 * The exact argv, environment, timeouts and order of the calls of
 * `startUserManager` and of the `{ user }` scope, pinned through a recording
 * command runner; and the failures of the system manager that cannot be
 * provoked on demand (a start or stop that fails). The real behaviour, and
 * the conformance suite, run against the machine's real managers in
 * units.machine.test.ts.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bindingOf, CommandFailedError, encodeBoundLine, fileJournal, listTransactions, memoryJournal, recover, REUSED_JOURNAL_FORMAT, transaction,
  type CommandResult, type CommandRunner, type CommandSpec, type JournalPlace, type JournalRecord,
} from '@unwind/core';
import { conformanceSuite, failingStep, testContext, testKinds } from '@unwind/core/testing';
import { enable, installUnit, startUserManager } from '../src/index.js';

interface Fake {
  exec: CommandRunner;
  calls: CommandSpec[];
  state: { active: boolean; failStart?: boolean; failStop?: boolean };
}

/** A pretend system manager with one user manager, user@1000.service for alice. */
function fakeSystem(initiallyActive = false): Fake {
  const calls: CommandSpec[] = [];
  const state: Fake['state'] = { active: initiallyActive };
  const ok = (spec: CommandSpec, stdout = ''): CommandResult => ({ argv: spec.argv, exitCode: 0, signal: null, stdout, stderr: '', durationMs: 1 });
  const exec: CommandRunner = async (spec) => {
    calls.push(spec);
    const a = spec.argv;
    if (a[0] === 'getent') return a[2] === 'alice' ? ok(spec, 'alice:x:1000:1000:Alice:/srv/homes/alice:/bin/sh\n') : { ...ok(spec), exitCode: 2 };
    if (a.includes('show')) {
      return ok(spec, `LoadState=loaded\nActiveState=${state.active ? 'active' : 'inactive'}\nSubState=${state.active ? 'running' : 'dead'}\nUnitFileState=static\n`);
    }
    if (a.includes('is-enabled')) return ok(spec, 'static\n');
    if (a.includes('is-system-running')) return ok(spec, state.active ? 'running\n' : 'offline\n');
    if (a.includes('start')) {
      if (state.failStart) throw new CommandFailedError({ ...ok(spec), exitCode: 1, stderr: 'Job for user@1000.service failed.\n' });
      state.active = true;
      return ok(spec);
    }
    if (a.includes('stop')) {
      if (state.failStop) throw new CommandFailedError({ ...ok(spec), exitCode: 1, stderr: 'Failed to stop user@1000.service: Access denied\n' });
      state.active = false;
      return ok(spec);
    }
    if (a.includes('reset-failed')) return ok(spec);
    throw new Error(`unexpected command ${a.join(' ')}`);
  };
  return { exec, calls, state };
}

describe('startUserManager (recorded argv and injected manager failures)', () => {
  it('looks the user up, starts user@UID.service with the timeout, then waits for the manager with is-system-running --wait', async () => {
    const fake = fakeSystem();
    const tx = transaction('start manager', { journal: memoryJournal(), handleSignals: false, exec: fake.exec });
    tx.add(startUserManager({ user: 'alice', timeoutMs: 45_000 }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    expect(fake.calls.map((c) => c.argv)).toEqual([
      ['getent', 'passwd', 'alice'],
      ['systemctl', '--no-ask-password', 'show', '-p', 'LoadState,ActiveState,SubState,UnitFileState', '--', 'user@1000.service'],
      ['systemctl', '--no-ask-password', 'start', '--', 'user@1000.service'],
      ['systemctl', '--user', '--machine=alice@', '--no-ask-password', 'is-system-running', '--wait'],
      ['systemctl', '--no-ask-password', 'show', '-p', 'LoadState,ActiveState,SubState,UnitFileState', '--', 'user@1000.service'],
    ]);
    const systemctlCalls = fake.calls.filter((c) => c.argv[0] === 'systemctl');
    for (const c of systemctlCalls) {
      expect(c.timeoutMs).toBe(45_000);
      expect(Object.keys(c.env ?? {}).sort()).toEqual(['LC_ALL', 'PATH']);
    }
    expect(fake.calls.every((c) => typeof c.timeoutMs === 'number')).toBe(true);
  });

  it('an already running manager is not started again, and undo leaves it running', async () => {
    const fake = fakeSystem(true);
    const tx = transaction('start manager', { journal: memoryJournal(), handleSignals: false, exec: fake.exec });
    tx.add(startUserManager({ user: 'alice' }));
    tx.add(failingStep({ message: 'later' }));
    expect((await tx.run()).status).toBe('rolled-back');
    expect(fake.calls.some((c) => c.argv.includes('start') || c.argv.includes('stop'))).toBe(false);
    expect(fake.state.active).toBe(true);
  });

  it('a rollback stops a manager it started', async () => {
    const fake = fakeSystem();
    const tx = transaction('start manager', { journal: memoryJournal(), handleSignals: false, exec: fake.exec });
    tx.add(startUserManager({ user: 'alice' }));
    tx.add(failingStep({ message: 'later' }));
    expect((await tx.run()).status).toBe('rolled-back');
    expect(fake.calls.filter((c) => c.argv.includes('stop')).map((c) => c.argv)).toEqual([['systemctl', '--no-ask-password', 'stop', '--', 'user@1000.service']]);
    expect(fake.state.active).toBe(false);
  });

  it('a failing start rolls back with the command, exit code and stderr in the report', async () => {
    const fake = fakeSystem();
    fake.state.failStart = true;
    const tx = transaction('start manager', { journal: memoryJournal(), handleSignals: false, exec: fake.exec });
    tx.add(startUserManager({ user: 'alice' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.error?.context).toMatchObject({ argv: ['systemctl', '--no-ask-password', 'start', '--', 'user@1000.service'], exitCode: 1, stderr: 'Job for user@1000.service failed.\n' });
  });

  it('a failing undo (stop) ends rollback-failed with the command in the report', async () => {
    const fake = fakeSystem();
    fake.state.failStop = true;
    const tx = transaction('start manager', { journal: memoryJournal(), handleSignals: false, exec: fake.exec, retry: { undo: { retries: 0 } } });
    tx.add(startUserManager({ user: 'alice' }));
    tx.add(failingStep({ message: 'later' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rollback-failed');
    expect(outcome.steps[0]?.undo?.error?.context).toMatchObject({ argv: ['systemctl', '--no-ask-password', 'stop', '--', 'user@1000.service'], exitCode: 1 });
    expect(String(outcome.steps[0]?.undo?.error?.context?.stderr)).toMatch(/Access denied/);
  });

  it('an unknown user fails in prepare, before anything changes', async () => {
    const fake = fakeSystem();
    const tx = transaction('start manager', { journal: memoryJournal(), handleSignals: false, exec: fake.exec });
    tx.add(startUserManager({ user: 'bob' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.error?.name).toBe('UserNotFoundError');
    expect(fake.calls.map((c) => c.argv[0])).toEqual(['getent']);
  });
});

describe("recovery acts on no journaled unit but the journaled uid's user@UID.service", () => {
  const place: JournalPlace = { root: '/nonexistent', transactionDirectory: '/nonexistent/t', transactionId: 't', stepIndex: 0 };
  const state = { loadState: 'loaded', activeState: 'inactive', subState: 'dead', unitFileState: 'static' };

  it('validateJournaled refuses another unit, another uid\'s manager and an impossible uid; the step\'s own before-state passes', async () => {
    const check = (before: { uid: number; unit: string }) => () => startUserManager.definition.validateJournaled!({ user: 'alice' }, { ...before, state } as never, undefined, place);
    expect(check({ uid: 1000, unit: 'sshd.service' })).toThrow(/UNTRUSTED_JOURNAL|is not user@1000\.service/);
    expect(check({ uid: 1000, unit: 'user@0.service' })).toThrow(/is not user@1000\.service/);
    expect(check({ uid: 1000, unit: 'user@1000.service/../sshd.service' })).toThrow(/is not user@1000\.service/);
    for (const uid of [-1, 1.5, 2 ** 32, Number.NaN]) expect(check({ uid, unit: `user@${uid}.service` })).toThrow(/is not a uid/);
    const fake = fakeSystem();
    const { ctx, dispose } = testContext({ exec: fake.exec });
    try {
      const before = await startUserManager.definition.prepare({ user: 'alice' }, ctx);
      expect(() => startUserManager.definition.validateJournaled!({ user: 'alice' }, before, undefined, place)).not.toThrow();
    } finally {
      dispose();
    }
  });

  it('a left-behind journal whose before.unit was changed to sshd.service: recover() refuses it typed and runs no systemctl', async () => {
    const base = fs.mkdtempSync(join(tmpdir(), 'unwind-systemd-forged-'));
    try {
      const root = join(base, 'journal');
      // A real journal left behind: the manager was started, the stop of the rollback failed.
      const fake = fakeSystem();
      fake.state.failStop = true;
      const tx = transaction('start manager', { journal: fileJournal({ root }), handleSignals: false, exec: fake.exec, retry: { undo: { retries: 0 } } });
      tx.add(startUserManager({ user: 'alice' }));
      tx.add(failingStep({ message: 'later' }));
      expect((await tx.run()).status).toBe('rollback-failed');
      // Someone rewrites the step's before-state, checksums and all: the undo would stop sshd.
      const path = listTransactions(root)[0]!.path;
      const lines = fs.readFileSync(path, 'utf8').split('\n');
      const begin = JSON.parse(lines[0]!.slice(9)) as JournalRecord & { kind: 'begin' };
      const bind = begin.format === REUSED_JOURNAL_FORMAT ? bindingOf(begin.id) : 0;
      const at = lines.findIndex((l) => l.includes('"kind":"prepared"') && l.includes('systemd.startUserManager'));
      const record = JSON.parse(lines[at]!.slice(9)) as JournalRecord & { before: { unit: string; state: { activeState: string } } };
      record.before.unit = 'sshd.service';
      lines[at] = encodeBoundLine(record, bind).trimEnd();
      fs.writeFileSync(path, lines.join('\n'));

      const recovering = fakeSystem(true);
      const report = await recover({ root, kinds: [startUserManager, ...testKinds], exec: recovering.exec });
      expect(report.ok).toBe(false);
      expect(report.transactions[0]?.error?.code).toBe('UNTRUSTED_JOURNAL');
      expect(report.transactions[0]?.error?.message).toMatch(/sshd\.service.*is not user@1000\.service/);
      expect(recovering.calls.filter((c) => c.argv[0] === 'systemctl')).toEqual([]);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('other users and the own user manager: argv and environment', () => {
  it('scope { user } goes through --machine=USER@ and installs under the home from the user database, owned by the user', async () => {
    const fake = fakeSystem();
    const { ctx, dispose } = testContext({ exec: fake.exec });
    try {
      const before = await installUnit.definition.prepare({ unit: 'sync.service', content: '[Service]\nExecStart=/bin/true\n', scope: { user: 'alice' } }, ctx);
      expect(before.path).toBe('/srv/homes/alice/.config/systemd/user/sync.service');
      expect(before.owner).toEqual({ uid: 1000, gid: 1000 });
      await enable.definition.prepare({ unit: 'sync.service', scope: { user: 'alice' } }, ctx);
    } finally {
      dispose();
    }
    for (const verb of ['show', 'is-enabled']) {
      const call = fake.calls.find((c) => c.argv.includes(verb))!;
      expect(call.argv.slice(0, 4)).toEqual(['systemctl', '--user', '--machine=alice@', '--no-ask-password']);
      expect(Object.keys(call.env!).sort()).toEqual(['LC_ALL', 'PATH']);
    }
  });

  it('scope "user" passes XDG_RUNTIME_DIR, HOME and the bus address explicitly', async () => {
    const fake = fakeSystem();
    const { ctx, dispose } = testContext({ exec: fake.exec });
    try {
      await enable.definition.prepare({ unit: 'sync.service', scope: 'user', home: '/srv/h', runtimeDir: '/run/user/4242', busAddress: 'unix:path=/run/user/4242/bus', commandTimeoutMs: 1234 }, ctx);
    } finally {
      dispose();
    }
    for (const verb of ['show', 'is-enabled']) {
      const call = fake.calls.find((c) => c.argv.includes(verb))!;
      expect(call.argv.slice(0, 3)).toEqual(['systemctl', '--user', '--no-ask-password']);
      expect(call.env).toEqual({ PATH: expect.any(String), LC_ALL: 'C', XDG_RUNTIME_DIR: '/run/user/4242', HOME: '/srv/h', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/4242/bus' });
      expect(call.timeoutMs).toBe(1234);
    }
  });

  it('the system scope defaults to /etc/systemd/system (read-only prepare)', async () => {
    const fake = fakeSystem();
    const { ctx, dispose } = testContext({ exec: fake.exec });
    try {
      const before = await installUnit.definition.prepare({ unit: 'unwind-never-installed-x.service', content: '[Service]\nExecStart=/bin/true\n' }, ctx);
      expect(before.path).toBe('/etc/systemd/system/unwind-never-installed-x.service');
      expect(before.previous).toEqual({ kind: 'absent' });
    } finally {
      dispose();
    }
  });
});
