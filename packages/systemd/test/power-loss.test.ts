import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exploreCrashStates } from '@unwind/core/testing';

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
