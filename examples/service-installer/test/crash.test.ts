import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listTransactions, readJournalFile } from '@unwind/core';
import { requireHere, testKinds } from '@unwind/core/testing';
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
    // Only the installs that committed left a unit behind (the others were checked to be gone).
    if (fs.existsSync(join(manager().unitDir!, `${name}.service`))) await purgeUnit(name);
    fs.rmSync(sb.root, { recursive: true, force: true });
  }
  if (!skip) expect(machineDb()).toEqual(machine);
});

function fresh() {
  const made1 = { sb: makeSandbox(), name: uniqueName() };
  made.push(made1);
  return made1;
}

describe('service installer: SIGKILL after every journal record, then recover()', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
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
      const report = await recoverInstall({ journalRoot: sb.journalRoot, extraKinds: testKinds, loginctl: sb.loginctl });
      const recovered = await installerState(sb, name);
      const again = await recoverInstall({ journalRoot: sb.journalRoot, extraKinds: testKinds, loginctl: sb.loginctl });
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

  it('a run that fails after its last phase, killed across its rollback (every other record): recover() gives the before-state', async () => {
    const probe = fresh();
    const failing = await runChild(child, [JSON.stringify({ root: probe.sb.root, name: probe.name, manager: manager(), failAtEnd: true })]);
    expect(JSON.parse(failing.stdout).status, failing.stderr).toBe('rolled-back');
    const records = readJournalFile(listTransactions(probe.sb.journalRoot)[0]!.path).records;
    // From the failure on: the rollback record, every undone record, the end.
    const from = records.findIndex((r) => r.kind === 'failed');
    // A representative half of them (the forward path is covered record by record above): every
    // other one, always the failure, the rollback record and the end.
    const tail = records.slice(from).map((r) => r.seq);
    const boundaries = tail.filter((_, i) => i % 2 === 0 || i === 1 || i === tail.length - 1);
    expect(records.filter((r) => r.kind === 'undone')).toHaveLength(12);
    const outcomes = await pool(boundaries, 6, async (n) => {
      const { sb, name } = fresh();
      const before = await installerState(sb, name);
      const result = await runChild(child, [JSON.stringify({ root: sb.root, name, manager: manager(), killAtRecord: n, failAtEnd: true })]);
      const report = await recoverInstall({ journalRoot: sb.journalRoot, extraKinds: testKinds, loginctl: sb.loginctl });
      return { n, before, result, report, recovered: await installerState(sb, name) };
    });
    for (const o of outcomes) {
      expect(o.result.signal, `record ${o.n}: ${o.result.stderr}`).toBe('SIGKILL');
      expect(o.report.ok, `record ${o.n}`).toBe(true);
      expect(o.recovered, `kill after record ${o.n} (${records[o.n - 1]!.kind})`).toEqual(o.before);
    }
  }, 120_000);
});
