import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recover } from '@unwind/core';
import { killAtEveryOperation, killAtRandomTimes, temporaryDirectory, testKinds, treeState, type KillWorld } from '@unwind/core/testing';

// The core journal and runner with core's test kinds (writeMarker, stagedRemove): a kill after each of
// the transaction's mutating file-system calls (journal records, syncs, the kinds' do, undo and commit),
// sampled and seeded, and kills from outside at random times drawn from the measured span of the
// transaction; after each, recover() gives exactly the before-state, or the after-state past the
// commit point, and a second recover() changes nothing.

const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');

function arrange(failAtEnd: boolean): KillWorld<{ root: string; dir: string; failAtEnd: boolean }> {
  const base = temporaryDirectory('unwind-core-kill-');
  const dir = join(base.path, 'sandbox');
  fs.mkdirSync(join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(join(dir, 'a.conf'), 'old a\n', { mode: 0o640 });
  fs.writeFileSync(join(dir, 'old.log'), 'old log\n');
  fs.symlinkSync('a.conf', join(dir, 'link'));
  const root = join(base.path, 'journal');
  return {
    config: { root, dir, failAtEnd },
    roots: [base.path],
    journalRoot: root,
    state: () => treeState(dir),
    recover: () => recover({ root, kinds: testKinds }),
    cleanup: () => base.remove(),
  };
}

describe('core: kills at mutating operations and at random times, then recover()', () => {
  it.each([
    ['a committing run', false],
    ['a run that rolls back', true],
  ])('a kill after sampled mutating operations of %s', async (what, failAtEnd) => {
    const report = await killAtEveryOperation({ name: `core, ${what}`, script: child, arrange: () => arrange(failAtEnd), budget: 10 });
    expect(report.operations).toBeGreaterThan(20);
    expect(report.checked.length).toBe(10);
    if (failAtEnd) expect(report.afterCommitPoint).toBe(0);
    expect(report.failures).toEqual([]);
  }, 300_000);

  it('kills at random times inside the measured span of the transaction: every one lands inside, drawn again when it did not', async () => {
    const report = await killAtRandomTimes({ name: 'core', script: child, arrange: () => arrange(false), kills: 8 });
    expect(report.landedInside, `${report.landedInside} of ${report.kills} kills landed inside the transaction in ${report.draws} draws`).toBe(report.kills);
    expect(report.draws).toBeLessThanOrEqual(2 * report.kills);
    expect(report.failures).toEqual([]);
  }, 300_000);
});
