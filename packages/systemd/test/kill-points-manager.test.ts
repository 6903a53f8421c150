/**
 * Kill points against the machine's own system manager (the test run's
 * throw-away machine, systemd as PID 1): SIGKILL a transaction of
 * systemd.enable, systemd.mask and systemd.disable after each of its mutating
 * operations in turn — each systemctl call's end (between the commands),
 * every file-system call of the journal and of the steps, and inside each
 * systemctl before each message it sends the manager (strace, `sendmsg`: for
 * disable, between `DisableUnitFiles` and `Reload`) — then recover() in this
 * process: the manager's view of the units (`systemctl is-enabled`) and
 * their links in /etc/systemd/system are exactly as before (or after, past
 * the commit point), and a second recover() changes nothing. The manager's
 * own change of the links cannot be stopped half-way from here; kills
 * between systemctl's own file changes are in kill-points.test.ts
 * (systemctl --root on a directory).
 * A seeded sample runs in the test command (UNWIND_KILL_SEED replays, UNWIND_KILL_POINTS=0 runs all).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recover } from '@unwind/core';
import { killAtEveryOperation, notInsideMachine, temporaryDirectory, testKinds, type KillWorld, type RunStepsConfig } from '@unwind/core/testing';
import { kinds } from '../src/index.js';
import { uniqueUnit } from './fixture.js';

const kindsModule = resolve(import.meta.dirname, '../src/index.ts');
const allKinds = [...kinds, ...testKinds];
const SYSTEM_UNITS = '/etc/systemd/system';
const VENDOR_UNITS = '/usr/lib/systemd/system'; // a unit in /etc cannot be masked
const unitFile = (description: string) => `[Unit]\nDescription=${description}\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n`;

function systemctl(...args: string[]): string {
  const result = spawnSync('systemctl', ['--no-ask-password', ...args], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0 && args[0] !== 'is-enabled') throw new Error(`systemctl ${args.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr}`);
  return result.stdout.trim();
}

function arrange(rollback: boolean): KillWorld<RunStepsConfig> {
  const outside = notInsideMachine();
  if (outside) throw new Error(`these tests change the system manager's units; they run inside the throw-away machine (node scripts/test.mjs): ${outside}`);
  const base = temporaryDirectory('unwind-systemd-kill-manager-');
  const [app, other, old] = [uniqueUnit('killapp'), uniqueUnit('killother'), uniqueUnit('killold')] as [string, string, string];
  const files = [join(SYSTEM_UNITS, app), join(VENDOR_UNITS, other), join(SYSTEM_UNITS, old)];
  fs.mkdirSync(VENDOR_UNITS, { recursive: true });
  for (const file of files) fs.writeFileSync(file, unitFile(file));
  systemctl('daemon-reload');
  systemctl('enable', '--', old);
  const journalRoot = join(base.path, 'journal');
  const ours = (name: string) => [app, other, old].some((u) => name.endsWith(u));
  // Each world's units have names of their own; compared by role, so the counting run's after-state fits every world.
  const byRole = (text: string) => text.replace(app, 'APP.service').replace(other, 'OTHER.service').replace(old, 'OLD.service');
  return {
    config: {
      name: 'systemd kill points (manager)', journalRoot, kindsModule, retention: 'keep', rollback,
      steps: [
        { type: 'systemd.enable', args: { unit: app } },
        { type: 'systemd.mask', args: { unit: other } },
        { type: 'systemd.disable', args: { unit: old } },
      ],
    },
    roots: [base.path, SYSTEM_UNITS],
    journalRoot,
    // What the manager says, and every link of these units under /etc/systemd/system.
    state: () => ({
      enabled: [app, other, old].map((u) => byRole(`${u}: ${systemctl('is-enabled', '--', u)}`)),
      links: (fs.readdirSync(SYSTEM_UNITS, { recursive: true, encoding: 'utf8' }) as string[]).filter(ours).map(byRole).sort(),
    }),
    recover: () => recover({ root: journalRoot, kinds: allKinds }),
    cleanup: () => {
      try {
        spawnSync('systemctl', ['--no-ask-password', 'unmask', '--', other]);
        spawnSync('systemctl', ['--no-ask-password', 'disable', '--', app, old]);
        for (const file of files) fs.rmSync(file, { force: true });
        systemctl('daemon-reload');
      } finally {
        base.remove();
      }
    },
  };
}

describe('systemd: a kill between and inside the systemctl commands of enable, mask and disable on the system manager, then recover()', () => {
  it.each([
    ['a committing run (enable, mask, disable)', false],
    ['a run that rolls back (enable, mask, disable, then each undone)', true],
  ])('%s', async (_what, rollback) => {
    const report = await killAtEveryOperation({ name: `systemd (system manager), ${rollback ? 'rolled back' : 'committed'}`, arrange: () => arrange(rollback), traced: ['systemctl'], tracedSyscalls: ['sendmsg'], budget: 10, childTimeoutMs: 180_000 });
    expect(report.commands).toBeGreaterThan(6);
    expect(report.insidePoints).toBeGreaterThan(report.commands); // every systemctl sends the manager more than one message
    expect(report.checked.length).toBeGreaterThanOrEqual(10); // all of them with UNWIND_KILL_POINTS=0
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    // A live manager's answers vary, and with them how many messages one systemctl sends: a few points may not be reached.
    expect(report.unreached.length).toBeLessThanOrEqual(Math.ceil(report.checked.length / 10));
    expect(report.failures).toEqual([]);
  }, 900_000);
});
