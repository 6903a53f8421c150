import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileJournal, recover, runCommand, transaction, withPrograms, type AnyStepKind } from '@unwind/core';
import { killAtEveryOperation, temporaryDirectory, testKinds, treeState, type KillWorld, type RunStepsConfig } from '@unwind/core/testing';
import { kinds } from '../src/index.js';
import { offlineSystemctl } from './offline-systemctl.js';

// SIGKILL a transaction of systemd.enable, systemd.mask and systemd.disable after each of its mutating
// operations in turn — every file-system call of the journal and of the steps, each systemctl's end —
// and inside each systemctl that changes the unit directory, before each of its file-changing system
// calls (strace), then recover() in this process: the unit directory is exactly as before (or after, past
// the commit point), and a second recover() changes nothing. systemctl runs offline here
// (`systemctl --root=DIR`, offline-systemctl.ts): the same program, acting on a directory instead of the
// machine's manager, so that it can be killed inside; kills between the commands against a live manager
// are in kill-points.machine.test.ts.
// A seeded sample runs in the test command (UNWIND_KILL_SEED replays, UNWIND_KILL_POINTS=0 runs all).

const kindsModule = resolve(import.meta.dirname, '../src/index.ts');
const allKinds = [...kinds, ...testKinds];
const unit = (description: string) => `[Unit]\nDescription=${description}\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n`;

function arrange(rollback: boolean): KillWorld<RunStepsConfig> {
  const base = temporaryDirectory('unwind-systemd-kill-');
  const root = join(base.path, 'root');
  const unitDir = join(root, 'etc', 'systemd', 'system');
  const vendorDir = join(root, 'usr', 'lib', 'systemd', 'system'); // a unit in /etc cannot be masked
  fs.mkdirSync(unitDir, { recursive: true });
  fs.mkdirSync(vendorDir, { recursive: true });
  for (const name of ['app', 'old']) fs.writeFileSync(join(unitDir, `${name}.service`), unit(name));
  fs.writeFileSync(join(vendorDir, 'other.service'), unit('other'));
  fs.mkdirSync(join(unitDir, 'multi-user.target.wants'));
  fs.symlinkSync('/etc/systemd/system/old.service', join(unitDir, 'multi-user.target.wants', 'old.service'));
  fs.mkdirSync(join(base.path, 'bin'));
  const systemctl = offlineSystemctl(join(base.path, 'bin'), root);
  const journalRoot = join(base.path, 'journal');
  const programs = { systemctl };
  const manager = { unitDir, systemctl };
  return {
    config: {
      name: 'systemd kill points', journalRoot, kindsModule, retention: 'keep', rollback, programs,
      steps: [
        { type: 'systemd.enable', args: { ...manager, unit: 'app.service' } },
        { type: 'systemd.mask', args: { ...manager, unit: 'other.service' } },
        { type: 'systemd.disable', args: { ...manager, unit: 'old.service' } },
      ],
    },
    roots: [base.path],
    journalRoot,
    state: () => treeState(root),
    // Recovery never runs a program named in a journal: systemctl is mapped here, as an installer maps it.
    recover: () => recover({ root: journalRoot, kinds: allKinds, exec: withPrograms(runCommand, programs) }),
    cleanup: () => base.remove(),
  };
}

describe('systemd: a kill after every mutating operation, and inside systemctl, then recover()', () => {
  it('the transaction, not killed, commits: app enabled, other masked, old disabled', async () => {
    const world = arrange(false);
    try {
      const tx = transaction('systemd offline', { journal: fileJournal({ root: world.config.journalRoot }), handleSignals: false, exec: withPrograms(runCommand, world.config.programs!) });
      for (const step of world.config.steps) tx.add((kinds as readonly AnyStepKind[]).find((k) => k.type === step.type)!(step.args as never));
      expect((await tx.run()).status).toBe('committed');
      const links = (world.state() as Array<{ path: string; type: string; target?: string }>).filter((e) => e.type === 'symlink').map((e) => [e.path, e.target]);
      expect(links).toEqual([
        ['etc/systemd/system/multi-user.target.wants/app.service', '/etc/systemd/system/app.service'],
        ['etc/systemd/system/other.service', '/dev/null'],
      ]);
    } finally {
      world.cleanup();
    }
  });

  it.each([
    ['a committing run (enable, mask, disable)', false],
    ['a run that rolls back (enable, mask, disable, then each undone)', true],
  ])('%s', async (_what, rollback) => {
    const report = await killAtEveryOperation({ name: `systemd (systemctl --root), ${rollback ? 'rolled back' : 'committed'}`, arrange: () => arrange(rollback), traced: ['systemctl'], budget: 12 });
    expect(report.commands).toBeGreaterThan(6);
    expect(report.insidePoints).toBeGreaterThanOrEqual(3); // enable, mask and disable each change one link
    expect(report.checked.length).toBeGreaterThanOrEqual(12); // all of them with UNWIND_KILL_POINTS=0
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    expect(report.failures).toEqual([]);
  }, 600_000);
});
