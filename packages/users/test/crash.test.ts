import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listTransactions, readJournalFile, recover } from '@unwind/core';
import { type ChildOutcome, requireHere, runTypeScript, testKinds } from '@unwind/core/testing';
import { kinds as usersKinds } from '../src/index.js';
import { freeUid, keepMachineDatabaseUnchanged, prefixRoot, skipReason, type PrefixRoot } from './helpers.js';

// SIGKILL after every journal record of a five-step users transaction, then
// recover({ kinds }): the prefix root (the four database files byte for byte,
// homes, linger files) is the before-state, or the after-state past the
// commit point. The prefix travels in the journaled step args, so recovery
// works on the same root without being told.

const kinds = [...usersKinds, ...testKinds];
const repoRoot = resolve(import.meta.dirname, '../../..');
const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts');

function runChild(config: Record<string, unknown>): Promise<ChildOutcome> {
  // cwd = repository root: tsx maps @unwind/* to the sources through tsconfig paths.
  return runTypeScript(child, [JSON.stringify(config)], { cwd: repoRoot, stdout: 'ignore' });
}

keepMachineDatabaseUnchanged();

describe('users: crash at every journal record, then recover()', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
  const uid = freeUid();
  const roots: PrefixRoot[] = [];
  afterEach(() => roots.splice(0).forEach((r) => r.cleanup()));

  function arrange() {
    const p = prefixRoot();
    roots.push(p);
    p.sh('useradd', '-m', '-u', String(uid + 1), 'carol');
    p.sh('usermod', '-a', '-G', 'users', 'carol');
    p.sh('useradd', '-m', '-u', String(uid + 2), 'bob');
    fs.writeFileSync(join(p.root, 'home/bob/data'), 'bob data\n');
    fs.writeFileSync(join(p.lingerDir, 'bob'), '');
    return { p, config: { journal: join(p.root, 'journal'), prefix: p.root, lingerDir: p.lingerDir, uid } };
  }
  const stateOf = (p: PrefixRoot) => ({ ...p.state() });

  let afterState: ReturnType<PrefixRoot['state']>;
  let records = 0;

  it('a clean run commits', async () => {
    const { p, config } = arrange();
    const result = await runChild(config);
    expect(result.code, result.stderr).toBe(0);
    const outcome = JSON.parse(fs.readFileSync(join(p.root, 'outcome.json'), 'utf8'));
    expect(outcome.status).toBe('committed');
    afterState = stateOf(p);
    records = readJournalFile(listTransactions(config.journal)[0]!.path).records.length;
    expect(records).toBeGreaterThan(15);
  }, 60_000);

  it('a kill after every record, then recover(), gives the before- or the after-state; a second recover changes nothing', async () => {
    expect(records).toBeGreaterThan(0);
    for (let n = 1; n <= records; n++) {
      const { p, config } = arrange();
      const before = stateOf(p);
      const result = await runChild({ ...config, killAtRecord: n });
      expect(result.signal, `record ${n}: ${result.stderr}`).toBe('SIGKILL');
      const passed = (listTransactions(config.journal)[0]?.state?.records ?? []).some((r) => r.kind === 'commit-point');
      const report = await recover({ root: config.journal, kinds });
      expect(report.ok, `record ${n}`).toBe(true);
      const state = stateOf(p);
      expect(state, `kill after record ${n}`).toEqual(passed ? afterState : before);
      await recover({ root: config.journal, kinds });
      expect(stateOf(p), `second recover after record ${n}`).toEqual(state);
      p.cleanup();
    }
  }, 300_000);

  it('a kill during the rollback of a failed run, then recover(), gives the before-state', async () => {
    const { p, config } = arrange();
    const before = stateOf(p);
    const clean = await runChild({ ...config, failAtEnd: true });
    expect(clean.code, clean.stderr).toBe(0);
    expect(stateOf(p)).toEqual(before);
    const total = readJournalFile(listTransactions(config.journal)[0]!.path).records.length;
    const rollbackAt = readJournalFile(listTransactions(config.journal)[0]!.path).records.findIndex((r) => r.kind === 'rollback') + 1;
    p.cleanup();
    for (let n = rollbackAt; n < total; n++) {
      const { p: q, config: c } = arrange();
      const start = stateOf(q);
      const result = await runChild({ ...c, failAtEnd: true, killAtRecord: n });
      expect(result.signal, `record ${n}: ${result.stderr}`).toBe('SIGKILL');
      const report = await recover({ root: c.journal, kinds });
      expect(report.ok, `record ${n}: ${JSON.stringify(report)}`).toBe(true);
      expect(stateOf(q), `kill during rollback after record ${n}`).toEqual(start);
      q.cleanup();
    }
  }, 300_000);
});
