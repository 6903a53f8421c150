import * as fs from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { treeState } from '@unwind/core/testing';
import { newSandbox, requireBuilt, runCleanups, unwind } from './helpers.js';
import { writeTransactionFile } from './apply-helpers.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

interface Report {
  ok: boolean;
  exitCode: number;
  problems: Array<{ pointer: string; message: string; line?: number }>;
}

/** Applies `text` with --json: must be refused as a file with problems (exit 4), nothing touched. */
async function refused(text: string): Promise<Report> {
  const s = newSandbox();
  const file = writeTransactionFile(s.base, 'file.yaml', text);
  const before = treeState(s.base);
  const r = await unwind(['apply', file, '--root', s.root, '--json']);
  expect(r.code, r.stderr).toBe(4);
  const report = JSON.parse(r.stdout) as Report;
  expect(report).toMatchObject({ ok: false, exitCode: 4 });
  expect(report.problems.length).toBeGreaterThan(0);
  expect(treeState(s.base)).toEqual(before);
  expect(fs.existsSync(s.root)).toBe(false);
  return report;
}

const STEP = '  - kind: files.ensureDir\n    args: { path: /tmp/unwind-never/d }\n';

describe('unwind apply reads YAML 1.2 only, core schema, no merge keys', () => {
  it('a %YAML 1.1 directive (yes, 0644, 1:30 and << would change meaning) is a problem', async () => {
    const report = await refused(`%YAML 1.1\n---\nname: old\nrecoverFirst: yes\nsteps:\n${STEP}`);
    expect(report.problems.map((p) => p.message).join('\n')).toMatch(/only YAML 1\.2 is read/);
  });

  it('<< is a plain key, not a merge: it cannot slip a second value past the duplicate-key check', async () => {
    const report = await refused(`name: merge\nsteps:\n  - kind: users.ensureGroup\n    args:\n      <<: [{ name: alice }, { name: root }]\n`);
    expect(report.problems.map((p) => p.pointer)).toContain('/steps/0/args/<<');
    // Under %YAML 1.1 the yaml package would merge them (name: alice): refused with the directive.
    const merged = await refused(`%YAML 1.1\n---\nname: merge\nsteps:\n  - kind: users.ensureGroup\n    args:\n      <<: [{ name: alice }, { name: root }]\n`);
    expect(merged.problems.map((p) => p.message).join('\n')).toMatch(/only YAML 1\.2 is read/);
  });

  it('an alias bomb and deep nesting are file problems, not crashes', async () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)].join('\n');
    expect((await refused(`name: bomb\n${bomb}\nsteps:\n${STEP}`)).problems[0]!.message).toMatch(/alias/i);
    const deep = `name: deep\nsteps:\n${STEP}x: ${'['.repeat(5000)}${']'.repeat(5000)}\n`;
    expect((await refused(deep)).problems[0]!.message).toMatch(/too deep|nested/i);
  });

  it('%YAML 1.2 is accepted', async () => {
    const s = newSandbox();
    const file = writeTransactionFile(s.base, 'ok.yaml', `%YAML 1.2\n---\nname: ok\nsteps:\n  - kind: files.ensureDir\n    args: { path: ${s.dir}/d }\n`);
    const r = await unwind(['apply', file, '--root', s.root, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('unwind apply refuses an integer written with a leading zero (0755 is decimal 755 in YAML 1.2, octal 1363)', () => {
  it('mode: 0755 in a .yaml file is a problem that says to write 0o755; nothing is created', async () => {
    const report = await refused(`name: zero\nsteps:\n  - kind: files.ensureDir\n    args: { path: /tmp/unwind-never/d, mode: 0755 }\n`);
    expect(report.problems).toEqual([expect.objectContaining({ pointer: '/steps/0/args/mode', line: 4, message: expect.stringMatching(/0o755/) })]);
  });

  it('"mode": 0755 in a .json file (read as YAML) is refused too, with the other leading-zero integers', async () => {
    const s = newSandbox();
    const text = `{"name": "zero", "timeoutMs": 01000, "steps": [{"kind": "files.ensureDir", "args": {"path": "${s.dir}/d", "mode": 0755}}]}\n`;
    const file = writeTransactionFile(s.base, 'file.json', text);
    const before = treeState(s.base);
    const r = await unwind(['apply', file, '--root', s.root, '--json']);
    expect(r.code, r.stderr).toBe(4);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.problems.map((p) => p.pointer).sort()).toEqual(['/steps/0/args/mode', '/timeoutMs']);
    expect(report.problems.find((p) => p.pointer === '/steps/0/args/mode')!.message).toMatch(/0755 .*decimal 755.*write 0o755/);
    expect(fs.existsSync(`${s.dir}/d`)).toBe(false);
    expect(fs.existsSync(s.root)).toBe(false);
    expect(treeState(s.base)).toEqual(before);
  });

  it('0o755, 493, a quoted "0755", 0 and 1.5 are not refused', async () => {
    const s = newSandbox();
    const file = writeTransactionFile(
      s.base,
      'ok.yaml',
      `name: ok\ntimeoutMs: 60000\nsteps:\n  - kind: files.ensureDir\n    args: { path: ${s.dir}/a, mode: 0o750 }\n  - kind: files.ensureDir\n    args: { path: ${s.dir}/b, mode: 493 }\n  - kind: files.writeFile\n    args: { path: ${s.dir}/c, content: "0755", mode: 0o600 }\n    retry: { do: { retries: 0, factor: 1.5 } }\n`,
    );
    const r = await unwind(['apply', file, '--root', s.root]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.statSync(`${s.dir}/a`).mode & 0o7777).toBe(0o750);
    expect(fs.statSync(`${s.dir}/b`).mode & 0o7777).toBe(0o755);
    expect(fs.readFileSync(`${s.dir}/c`, 'utf8')).toBe('0755');
  });
});
