import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exploreCrashStates, exploreRecoveryCrashStates } from '@unwind/core/testing';

// Power loss: snapshots.snapshot (taking the snapshot, restoring it on
// rollback, deleting or keeping it on commit) under the crash-state explorer.
const kindsModule = join(import.meta.dirname, 'fixtures', 'power-loss-kinds.ts');
const seed = Number(process.env.UNWIND_CRASH_SEED ?? 20261203);

function setup(tree: string): void {
  fs.mkdirSync(join(tree, 'app', 'sub'), { recursive: true });
  fs.writeFileSync(join(tree, 'app', 'a.conf'), 'old a\n', { mode: 0o640 });
  fs.writeFileSync(join(tree, 'app', 'sub', 'b.conf'), 'old b\n');
  fs.symlinkSync('a.conf', join(tree, 'app', 'link'));
  fs.mkdirSync(join(tree, 'store'));
}

// With a separate `store`, the store is compared too: a rollback (or a recovery) must leave
// it as it was — no snapshot, pin, partial snapshot, lock or lock temp file of this run.
describe('power loss: snapshots.snapshot under the crash-state explorer', () => {
  for (const store of [false, true]) {
    for (const rollback of [false, true]) {
      it(`snapshot ${store ? 'in a store' : 'in the journal'}, ${rollback ? 'restored by the rollback' : 'committed'}: 0 divergences`, async () => {
        const report = await exploreCrashStates({
          name: `snapshots.snapshot ${store ? 'in a store' : 'in the journal'}${rollback ? ', rolled back' : ''}`,
          kindsModule,
          setup,
          steps: (tree) => [
            { type: 'snapshots.snapshot', args: { path: join(tree, 'app'), ...(store ? { store: join(tree, 'store'), keepLast: 1 } : {}) } },
            { type: 'fixture.scribble', args: { path: join(tree, 'app') } },
          ],
          rollback,
          statesPerPoint: 6,
          seed,
        });
        expect(report.statesChecked).toBeGreaterThan(10);
        expect(report.divergences).toEqual([]);
      }, 300_000);
    }
  }

  it('a power cut during recover() (restoring the tree and deleting the snapshot, or pruning the store), then recover() again — and a second cut during that recover(): 0 divergences', async () => {
    const reports = await exploreRecoveryCrashStates({
      name: 'snapshots.snapshot in a store',
      kindsModule,
      setup,
      steps: (tree) => [
        { type: 'snapshots.snapshot', args: { path: join(tree, 'app'), store: join(tree, 'store'), keepLast: 1 } },
        { type: 'fixture.scribble', args: { path: join(tree, 'app') } },
      ],
      statesPerPoint: 6,
      secondCuts: 3,
      seed,
    });
    expect(reports.filter((r) => r.name.endsWith('then a second power cut during the next recover()'))).toHaveLength(2);
    for (const report of reports) {
      expect(report.statesChecked).toBeGreaterThan(10);
      expect(report.divergences).toEqual([]);
    }
  }, 900_000);
});
