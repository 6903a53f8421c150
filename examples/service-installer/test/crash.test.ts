import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listTransactions, readJournalFile } from '@unwind/core';
import { recoverInstall } from '../src/install.js';
import type { Sandbox } from '../src/sandbox.js';
import { expectInstalled, installerState, machineDb, makeSandbox, manager, pool, purgeUnit, runChild, skipReason, uniqueName } from './helpers.js';

const skip = skipReason();
const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');

const made: Array<{ sb: Sandbox; name: string }> = [];
let machine: Record<string, string>;
beforeAll(() => {
  if (!skip) machine = machineDb();
});
afterAll(async () => {
  for (const { sb, name } of made) {
    await purgeUnit(name);
    fs.rmSync(sb.root, { recursive: true, force: true });
  }
  if (!skip) expect(machineDb()).toEqual(machine);
});

function fresh() {
  const made1 = { sb: makeSandbox(), name: uniqueName() };
  made.push(made1);
  return made1;
}

describe.skipIf(skip)('service installer: SIGKILL after every journal record, then recover()', () => {
  it('gives the before-state, or past the commit point the installed service; a second recover changes nothing', async () => {
    // A clean run in a child: how many records there are, and that it installs.
    const clean = fresh();
    const done = await runChild(child, [JSON.stringify({ root: clean.sb.root, name: clean.name, manager: manager() })]);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).status).toBe('committed');
    await expectInstalled(clean.sb, clean.name);
    const count = readJournalFile(listTransactions(clean.sb.journalRoot)[0]!.path).records.length;
    expect(count).toBeGreaterThan(30);

    const boundaries = Array.from({ length: count }, (_, i) => i + 1);
    const outcomes = await pool(boundaries, 6, async (n) => {
      const { sb, name } = fresh();
      const before = await installerState(sb, name);
      const result = await runChild(child, [JSON.stringify({ root: sb.root, name, manager: manager(), killAtRecord: n })]);
      const records = listTransactions(sb.journalRoot)[0]?.state?.records ?? [];
      const passedCommitPoint = records.some((r) => r.kind === 'commit-point');
      const report = await recoverInstall({ journalRoot: sb.journalRoot });
      const recovered = await installerState(sb, name);
      const again = await recoverInstall({ journalRoot: sb.journalRoot });
      return { n, sb, name, before, result, passedCommitPoint, report, recovered, again, second: await installerState(sb, name) };
    });
    let passed = 0;
    for (const o of outcomes) {
      expect(o.result.signal, `record ${o.n}: ${o.result.stderr}`).toBe('SIGKILL');
      expect(o.report.ok, `record ${o.n}: ${JSON.stringify(o.report.transactions.map((t) => t.error))}`).toBe(true);
      if (o.passedCommitPoint) {
        passed++;
        await expectInstalled(o.sb, o.name);
      } else {
        expect(o.recovered, `kill after record ${o.n}`).toEqual(o.before);
      }
      expect(o.again.transactions.every((t) => t.result === 'already-finished'), `second recover after record ${o.n}`).toBe(true);
      expect(o.second, `second recover after record ${o.n}`).toEqual(o.recovered);
    }
    // Both sides of the commit point were hit, and every phase was killed in.
    expect(passed).toBeGreaterThan(0);
    expect(passed).toBeLessThan(count);
  }, 180_000);
});
