import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exploreCrashStates, exploreRecoveryCrashStates } from '@unwind/core/testing';

// Power loss: the file part of installUnit (temp file, fsync, rename, directory
// sync; directories it creates) under the crash-state explorer. `reload: false`:
// systemctl daemon-reload is a command, outside the model — systemd reads the
// unit directory again at the next reload, from what these syncs made durable.
const kindsModule = join(import.meta.dirname, '..', 'src', 'index.ts');
const seed = Number(process.env.UNWIND_CRASH_SEED ?? 20261203);
const unit = '[Unit]\nDescription=power loss test\n[Service]\nExecStart=/bin/true\n';

describe('power loss: systemd.installUnit (the file part) under the crash-state explorer', () => {
  const cases = [
    { name: 'replaces a unit file', setup: (tree: string) => { fs.mkdirSync(join(tree, 'system')); fs.writeFileSync(join(tree, 'system', 'app.service'), '[Unit]\nDescription=old\n'); }, unitDir: (tree: string) => join(tree, 'system') },
    { name: 'creates the unit directory and the file', setup: () => {}, unitDir: (tree: string) => join(tree, 'etc', 'systemd', 'system') },
  ];
  for (const c of cases) {
    for (const rollback of [false, true]) {
      it(`${c.name}, ${rollback ? 'rolled back' : 'committed'}: 0 divergences`, async () => {
        const report = await exploreCrashStates({
          name: `systemd.installUnit ${c.name}${rollback ? ', rolled back' : ''}`,
          kindsModule,
          setup: c.setup,
          steps: (tree) => [{ type: 'systemd.installUnit', args: { unit: 'app.service', content: unit, unitDir: c.unitDir(tree), reload: false } }],
          rollback,
          seed,
        });
        expect(report.statesChecked).toBeGreaterThan(10);
        expect(report.divergences).toEqual([]);
      }, 300_000);
    }
  }
});

// Power loss: enable, disable and mask, done and undone by the real systemctl acting on a directory tree
// (`systemctl --root=TREE`, which needs no manager) instead of the machine's manager. systemctl's own
// writes are outside the model: each call's changes count as un-synced until unwind syncs the
// directories it changed. `show` is answered by the wrapper (a loaded, inactive unit); the kinds decide
// on `is-enabled`, which --root answers from the tree.
const installable = '[Unit]\nDescription=power loss test\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=app-alias.service\n';

function rootedSystemctl(directory: string, tree: string): string {
  const wrapper = join(directory, 'systemctl');
  fs.writeFileSync(wrapper, `#!/bin/sh
case " $* " in *" show "*) printf 'LoadState=loaded\\nActiveState=inactive\\nSubState=dead\\nUnitFileState=\\n'; exit 0 ;; esac
exec /usr/bin/systemctl --root='${tree}' "$@"
`, { mode: 0o755 });
  return wrapper;
}

describe('power loss: systemd.enable, disable and mask (systemctl --root on a tree) under the crash-state explorer', () => {
  const unitDir = (tree: string) => join(tree, 'etc', 'systemd', 'system');
  const cases = [
    {
      kind: 'systemd.enable',
      what: 'a unit with a WantedBy= and an Alias= (a new .wants directory, two links)',
      setup: (tree: string) => { fs.mkdirSync(unitDir(tree), { recursive: true }); fs.writeFileSync(join(unitDir(tree), 'app.service'), installable); },
    },
    {
      kind: 'systemd.disable',
      what: 'an enabled unit (two links removed)',
      setup: (tree: string) => {
        fs.mkdirSync(unitDir(tree), { recursive: true });
        fs.writeFileSync(join(unitDir(tree), 'app.service'), installable);
        execFileSync('systemctl', [`--root=${tree}`, 'enable', 'app.service'], { stdio: 'ignore' });
      },
    },
    {
      kind: 'systemd.mask',
      what: 'a vendor unit, creating the unit directory and its parent',
      setup: (tree: string) => { fs.mkdirSync(join(tree, 'usr/lib/systemd/system'), { recursive: true }); fs.mkdirSync(join(tree, 'etc')); fs.writeFileSync(join(tree, 'usr/lib/systemd/system/app.service'), installable); },
    },
  ];
  for (const c of cases) {
    for (const rollback of [false, true]) {
      it(`${c.kind}: ${c.what}, ${rollback ? 'rolled back' : 'committed'}: 0 divergences`, async () => {
        const programs = fs.mkdtempSync(join(tmpdir(), 'unwind-rooted-systemctl-'));
        try {
          const report = await exploreCrashStates({
            name: `${c.kind} (systemctl --root)${rollback ? ', rolled back' : ''}`,
            kindsModule,
            setup: c.setup,
            steps: (tree) => [{ type: c.kind, args: { unit: 'app.service', unitDir: unitDir(tree) } }],
            programs: (tree) => ({ systemctl: rootedSystemctl(programs, tree) }),
            rollback,
            seed,
          });
          expect(report.statesChecked).toBeGreaterThan(4);
          expect(report.divergences).toEqual([]);
        } finally {
          fs.rmSync(programs, { recursive: true, force: true });
        }
      }, 300_000);
    }
  }
});

// A power cut during recover() itself, of an enable (systemctl --root on a tree) cut just before its
// commit point: recovery rolls the enable back (systemctl disable, then the syncs of the directories it
// changed), and every state a power cut during that recovery leaves is recovered again. Recovery's
// command runner gets the same rooted systemctl as the run (the explorer's `programs`), as an installer
// maps its programs in recover({ exec }). (Rolling forward runs no systemctl: an enable has no commit.)
describe('power loss during recover(): systemd.enable (systemctl --root on a tree)', () => {
  it('rolling back: 0 divergences', async () => {
    const programs = fs.mkdtempSync(join(tmpdir(), 'unwind-rooted-systemctl-'));
    const unitDir = (tree: string) => join(tree, 'etc', 'systemd', 'system');
    try {
      const reports = await exploreRecoveryCrashStates({
        name: 'systemd.enable (systemctl --root)',
        kindsModule,
        setup: (tree) => { fs.mkdirSync(unitDir(tree), { recursive: true }); fs.writeFileSync(join(unitDir(tree), 'app.service'), installable); },
        steps: (tree) => [{ type: 'systemd.enable', args: { unit: 'app.service', unitDir: unitDir(tree) } }],
        programs: (tree) => ({ systemctl: rootedSystemctl(programs, tree) }),
        starts: ['rolling back'],
        statesPerPoint: 4,
        seed,
      });
      expect(reports.map((r) => r.name)).toEqual(['systemd.enable (systemctl --root): a power cut during recover() rolling back']);
      expect(reports[0]!.statesChecked).toBeGreaterThan(10);
      expect(reports[0]!.divergences).toEqual([]);
    } finally {
      fs.rmSync(programs, { recursive: true, force: true });
    }
  }, 300_000);
});
