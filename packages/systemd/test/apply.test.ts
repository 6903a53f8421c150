import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sampleTransactions } from '../../cli/test/fixtures/apply-samples.js';
import { purgeUnit, sysctl, uniqueUnit, userManager } from './fixture.js';

const repoRoot = resolve(import.meta.dirname, '../../..');
const BIN = join(repoRoot, 'packages/cli/dist/bin.js');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const action of cleanups.splice(0).reverse()) await action();
});

// `unwind apply` runs the systemd kinds from a data file exactly as a program
// would: here against the sandbox user manager (scope user, its home and runtime dir).
describe('every systemd kind runs through unwind apply (a real systemd user manager)', () => {
  it('install, reload, enable, start, restart, stop, disable, mask: committed, and the manager saw each change', async () => {
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is not built: run the build first`);
    const unit = uniqueUnit('apply');
    const masked = unit.replace(/\.service$/, '-masked.service');
    cleanups.push(() => purgeUnit(unit), () => purgeUnit(masked));
    const m = userManager();
    const steps = sampleTransactions({ dir: '', prefix: '', loginctl: '', lingerDir: '', user: '', unit, manager: { scope: 'user', home: m.home!, runtimeDir: m.runtimeDir!, unitDir: m.unitDir! } }).systemd;
    const base = fs.mkdtempSync(join(tmpdir(), 'unwind-apply-systemd-'));
    cleanups.push(() => fs.rmSync(base, { recursive: true, force: true }));
    const file = join(base, 'systemd.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'systemd kinds', steps }));
    const r = spawnSync(process.execPath, [BIN, 'apply', file, '--root', join(base, 'journal'), '--json'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const outcome = (JSON.parse(r.stdout) as { outcome: { status: string; steps: Array<{ type: string; status: string }> } }).outcome;
    expect(outcome.status).toBe('committed');
    expect(outcome.steps.map((s) => s.type)).toEqual(steps.map((s) => s.kind));
    expect(outcome.steps.every((s) => s.status === 'committed')).toBe(true);
    expect(fs.existsSync(join(m.unitDir!, unit))).toBe(true);
    expect((await sysctl('is-active', '--', unit)).trim()).toBe('inactive');
    expect((await sysctl('is-enabled', '--', unit)).trim()).toBe('disabled');
    expect((await sysctl('is-enabled', '--', masked)).trim()).toBe('masked');
  });
});
