import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { listTransactions, readJournalFile } from '@unwind/core';
import { reconcileContainers, recoverContainers } from '../src/reconciler.js';
import { makeSandbox, names, pool, runChild, skipReason, type Sandbox } from './helpers.js';

const skip = skipReason();
const child = join(import.meta.dirname, 'fixtures', 'child.ts');

const sandboxes: Sandbox[] = [];
// Some fifty sandboxes, each with units to stop and purge: more than the default hook timeout.
afterAll(async () => {
  await pool(sandboxes.splice(0), 8, (s) => s.cleanup());
}, 300_000);

/** A sandbox where container `a` is already deployed and `x` is newly desired. */
async function prepared(): Promise<{ s: Sandbox; a: string; x: string }> {
  const s = makeSandbox();
  sandboxes.push(s);
  const [a, x] = names('a', 'x') as [string, string];
  s.desire(a);
  const first = await reconcileContainers(s.config());
  if (first.exitCode !== 0) throw new Error(`set-up run failed: ${JSON.stringify(first.items)}`);
  s.desire(x);
  return { s, a, x };
}

const serialisable = (s: Sandbox) => {
  const { exec: _e, afterAppend: _a, ...config } = s.config();
  return config;
};

/** A sandbox where `a` (and for a removal, `x`) is deployed; then `x` is newly desired, or no longer desired. */
async function scenario(kind: 'create' | 'remove'): Promise<{ s: Sandbox; a: string; x: string }> {
  if (kind === 'create') return prepared();
  const s = makeSandbox();
  sandboxes.push(s);
  const [a, x] = names('a', 'x') as [string, string];
  s.desire(a);
  s.desire(x);
  const first = await reconcileContainers(s.config());
  if (first.exitCode !== 0) throw new Error(`set-up run failed: ${JSON.stringify(first.items)}`);
  s.undesire(x);
  return { s, a, x };
}

describe('container reconciler: SIGKILL at every journal record of one container, then recover()', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  it.each(['create', 'remove'] as const)('%s: leaves that container\'s before-state (the other untouched), or past the commit point its after-state', async (kind) => {
    // A clean run in a child: how many records does x's transaction write?
    const clean = await scenario(kind);
    const done = await runChild(child, [JSON.stringify({ config: serialisable(clean.s) })]);
    expect(done.code, done.stderr).toBe(0);
    const tx = listTransactions(join(clean.s.stateDir, 'journal')).find((t) => t.state?.name === `containers: ${kind} ${clean.x}`);
    const count = readJournalFile(tx!.path).records.length;
    expect(count).toBeGreaterThan(kind === 'create' ? 20 : 14);

    const outcomes = await pool(Array.from({ length: count }, (_, i) => i + 1), 4, async (n) => {
      const { s, a, x } = await scenario(kind);
      const before = await s.state([a, x]);
      const result = await runChild(child, [JSON.stringify({ config: serialisable(s), killAt: { key: x, record: n } })]);
      const records = listTransactions(join(s.stateDir, 'journal')).find((t) => t.state?.name === `containers: ${kind} ${x}`)?.state?.records ?? [];
      const passedCommitPoint = records.some((r) => r.kind === 'commit-point');
      const report = await recoverContainers({ stateDir: s.stateDir, prefix: s.prefix, loginctl: s.loginctl, systemSystemctl: s.systemctl });
      const recovered = await s.state([a, x]);
      const again = await recoverContainers({ stateDir: s.stateDir, prefix: s.prefix, loginctl: s.loginctl, systemSystemctl: s.systemctl });
      return { n, s, a, x, before, result, passedCommitPoint, report, recovered, again, second: await s.state([a, x]) };
    });
    let past = 0;
    for (const o of outcomes) {
      expect(o.result.signal, `record ${o.n}: ${o.result.stderr}`).toBe('SIGKILL');
      expect(o.report.ok, `record ${o.n}: ${JSON.stringify(o.report)}`).toBe(true);
      if (o.passedCommitPoint) {
        past++;
        // Past the commit point the change stands: a new run finds nothing to do.
        const rerun = await reconcileContainers(o.s.config());
        expect(rerun.items.map((i) => [i.key, i.outcome]), `record ${o.n}`).toEqual(kind === 'create' ? [[o.a, 'unchanged'], [o.x, 'unchanged']] : [[o.a, 'unchanged']]);
        if (kind === 'remove') expect(fs.readdirSync(join(o.s.prefix, 'home')), `record ${o.n}: staged home deleted`).toEqual([o.a]);
      } else {
        expect(o.recovered, `kill after record ${o.n}`).toEqual(o.before);
      }
      expect(o.again.transactions.every((t) => t.result === 'already-finished'), `second recover after record ${o.n}`).toBe(true);
      expect(o.second).toEqual(o.recovered);
    }
    expect(past).toBeGreaterThan(0);
    expect(past).toBeLessThan(count);
  }, 600_000);

  it('the next run after a kill recovers first, then converges', async () => {
    const { s, a, x } = await prepared();
    const result = await runChild(child, [JSON.stringify({ config: serialisable(s), killAt: { key: x, record: 12 } })]);
    expect(result.signal).toBe('SIGKILL');
    const report = await reconcileContainers(s.config());
    expect(report.recovered).toEqual([expect.objectContaining({ name: `containers: create ${x}`, result: 'rolled-back' })]);
    expect(report.exitCode).toBe(0);
    expect(report.items.map((i) => [i.key, i.outcome])).toEqual([[a, 'unchanged'], [x, 'created']]);
  }, 120_000);
});

describe('container reconciler: one run at a time', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  it('a second concurrent run fails fast naming the holder, and changes nothing', async () => {
    const s = makeSandbox();
    sandboxes.push(s);
    const [a] = names('a') as [string];
    s.desire(a);
    // The first run's loginctl takes a while, so the run is certainly in progress.
    const slow = join(s.base, 'bin', 'slow-loginctl');
    fs.writeFileSync(slow, `#!/bin/sh\nsleep 3\nexec '${s.loginctl}' "$@"\n`, { mode: 0o755 });
    let pid = 0;
    const first = runChild(child, [JSON.stringify({ config: { ...serialisable(s), loginctl: slow } })], { onSpawn: (p) => (pid = p) });
    const lock = join(s.stateDir, 'journal', 'unwind.lock');
    for (let i = 0; i < 200 && !fs.existsSync(lock); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fs.existsSync(lock)).toBe(true);

    const started = Date.now();
    const cli = await runChild(join(import.meta.dirname, '..', 'src', 'main.ts'), ['--desired', s.desiredDir, '--state', s.stateDir, '--prefix', s.prefix, '--linger-dir', s.lingerDir, '--loginctl', s.loginctl]);
    expect(Date.now() - started).toBeLessThan(2900 + 10_000);
    expect(cli.code, cli.stderr).toBe(3);
    expect(cli.stderr).toContain(`another run holds the lock (pid ${pid} on`);
    expect(cli.stderr).toContain('reconcile containers');
    expect(cli.stderr).toContain('nothing was changed');

    const done = await first;
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).items.map((i: { outcome: string }) => i.outcome)).toEqual(['created']);
  }, 120_000);
});
