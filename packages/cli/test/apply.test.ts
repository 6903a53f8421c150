import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock } from '@unwind/core';
import { treeState } from '@unwind/core/testing';
import { TEST_KINDS, newSandbox, requireBuilt, runCleanups, unwind } from './helpers.js';
import { unwindWithInput, writeTransactionFile } from './apply-helpers.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

/** Ten independent mistakes, one of each sort the checker knows. */
const TEN_MISTAKES = `name: ""
timeoutMs: -5
colour: blue
steps:
  - kind: files.writeFil
    args: { path: /tmp/unwind-never/x, content: "" }
  - kind: files.writeFile
    args: { path: /tmp/unwind-never/y, content: 42, mdoe: 420 }
  - kind: files.writeFile
    id: w
    args: { path: /tmp/unwind-never/z, content: "", encoding: latin1 }
  - kind: files.chmod
    id: w
    args: { path: /tmp/unwind-never/z, mode: { $result: nothere.mode } }
  - kind: files.chown
    args: { path: /tmp/unwind-never/z, uid: { $result: w.nofield } }
`;

describe('unwind apply: the file is checked completely before anything is touched', () => {
  it('a file with ten mistakes is reported as ten problems, each with its place, exit 4, nothing touched', async () => {
    const s = newSandbox();
    const file = writeTransactionFile(s.base, 'bad.yaml', TEN_MISTAKES);
    const before = treeState(s.base);
    const r = await unwind(['apply', file, '--root', s.root, '--json']);
    expect(r.code).toBe(4);
    const report = JSON.parse(r.stdout) as { ok: boolean; exitCode: number; problems: Array<{ pointer: string; step?: number; line?: number; message: string }> };
    expect(report.ok).toBe(false);
    expect(report.exitCode).toBe(4);
    expect(report.problems.map((p) => p.pointer)).toEqual([
      '/name',
      '/timeoutMs',
      '/colour',
      '/steps/0/kind',
      '/steps/1/args/content',
      '/steps/1/args/mdoe',
      '/steps/2/args/encoding',
      '/steps/3/id',
      '/steps/3/args/mode',
      '/steps/4/args/uid',
    ]);
    expect(report.problems.map((p) => p.line)).toEqual([1, 2, 3, 5, 8, 8, 11, 13, 14, 16]);
    expect(report.problems.find((p) => p.pointer === '/steps/0/kind')).toMatchObject({ step: 0, message: expect.stringContaining('did you mean "files.writeFile"') });
    expect(report.problems.find((p) => p.pointer === '/steps/2/args/encoding')!.message).toBe('expected ("utf8" | "base64"), got "latin1"');
    expect(report.problems.find((p) => p.pointer === '/steps/4/args/uid')!.message).toContain('has no field "nofield"');
    // The text form lists the same ten on stderr.
    expect(r.stderr).toContain('10 problems; nothing was touched');
    expect(r.stderr.split('\n').filter((l) => /^ {2}line \d+, \//.test(l))).toHaveLength(10);
    expect(treeState(s.base)).toEqual(before);
    expect(fs.existsSync(s.root)).toBe(false);
  });

  it("a step's own validate runs too (as tx.run() would), and a YAML syntax error names its line", async () => {
    const s = newSandbox();
    const relative = writeTransactionFile(s.base, 'relative.json', { name: 'x', steps: [{ kind: 'files.writeFile', args: { path: 'etc/app.conf', content: '' } }] });
    const r1 = await unwind(['apply', relative, '--root', s.root]);
    expect(r1.code).toBe(4);
    expect(r1.stderr).toMatch(/\/steps\/0\/args: .*must be an absolute path/);
    const broken = writeTransactionFile(s.base, 'broken.yaml', 'name: x\nsteps:\n  - kind: [unclosed\n');
    const r2 = await unwind(['apply', broken, '--root', s.root]);
    expect(r2.code).toBe(4);
    expect(r2.stderr).toMatch(/line \d+, \(the file\): /);
    expect(fs.existsSync(s.root)).toBe(false);
  });
});

describe('unwind apply: a transaction file directs what root changes, so only a trusted one is read', () => {
  it('refuses a file another user owns or can write, or under their directory, exit 4, before reading it; the same text on standard input runs', async () => {
    const s = newSandbox();
    const target = join(s.dir, 'a.conf');
    const value = { name: 'trusted', steps: [{ kind: 'files.writeFile', args: { path: target, content: 'new\n' } }] };
    const file = writeTransactionFile(s.base, 'install.json', value);
    const before = treeState(s.base);
    fs.chownSync(file, 65534, 65534);
    const owned = await unwind(['apply', file, '--root', s.root]);
    expect(owned.code, owned.stderr).toBe(4);
    expect(owned.stderr).toContain(`refusing to apply ${file}: transaction file ${file} is owned by uid 65534 (only root or the running user may own it)`);
    const dryRun = await unwind(['apply', file, '--root', s.root, '--dry-run']);
    expect(dryRun.code, dryRun.stderr).toBe(4);
    expect(dryRun.stderr).toContain(`refusing to apply ${file}`);
    fs.chownSync(file, 0, 0);
    fs.chmodSync(file, 0o646);
    const writable = await unwind(['apply', file, '--root', s.root]);
    expect(writable.code, writable.stderr).toBe(4);
    expect(writable.stderr).toContain(`is writable by group or others (mode 0646)`);
    fs.chmodSync(file, 0o644);
    const dir = join(s.base, 'shared');
    fs.mkdirSync(dir, { mode: 0o755 });
    const inShared = writeTransactionFile(dir, 'install.json', value);
    fs.chownSync(dir, 65534, 65534);
    const underTheirs = await unwind(['apply', inShared, '--root', s.root]);
    expect(underTheirs.code, underTheirs.stderr).toBe(4);
    expect(underTheirs.stderr).toContain(`has an ancestor ${dir} owned by uid 65534`);
    fs.rmSync(dir, { recursive: true });
    // A name that does not resolve is refused as such, never read by its name: a file put at its
    // target a moment later (another user's, through their dangling link) would not have been judged.
    const dangling = join(s.base, 'dangling.json');
    fs.symlinkSync(join(s.base, 'appears-later.json'), dangling);
    const unresolved = await unwind(['apply', dangling, '--root', s.root]);
    expect(unresolved.code, unresolved.stderr).toBe(4);
    expect(unresolved.stderr).toContain(`cannot read transaction file ${dangling}: it does not resolve (ENOENT)`);
    fs.rmSync(dangling);
    expect(treeState(s.base)).toEqual(before);
    // Root's own file runs; so does the same text given on standard input, a choice the caller makes.
    const applied = await unwind(['apply', file, '--root', s.root]);
    expect(applied.code, applied.stderr).toBe(0);
    fs.writeFileSync(target, 'old\n');
    const piped = await unwindWithInput(['apply', '-', '--root', s.root], JSON.stringify({ ...value, name: 'piped' }));
    expect(piped.code, piped.stderr).toBe(0);
    expect(fs.readFileSync(target, 'utf8')).toBe('new\n');
  });

  it('a transaction file or standard input over 16 MiB is refused, exit 4, nothing touched', async () => {
    const s = newSandbox();
    const huge = JSON.stringify({ name: 'huge', steps: [{ kind: 'files.writeFile', args: { path: join(s.dir, 'x'), content: 'x'.repeat(16 * 1024 * 1024) } }] });
    const file = join(s.base, 'huge.json');
    fs.writeFileSync(file, huge);
    const before = treeState(s.dir);
    const fromFile = await unwind(['apply', file, '--root', s.root]);
    expect(fromFile.code).toBe(4);
    expect(fromFile.stderr).toContain(`refusing to apply ${file}: larger than 16 MiB`);
    const piped = await unwindWithInput(['apply', '-', '--root', s.root], huge);
    expect(piped.code).toBe(4);
    expect(piped.stderr).toContain('refusing to apply standard input: larger than 16 MiB');
    expect(treeState(s.dir)).toEqual(before);
    expect(fs.existsSync(s.root)).toBe(false);
  });
});

describe('unwind apply: runs the transaction all or nothing', () => {
  it('YAML with octal modes and a reference to an earlier result runs committed, exit 0, --json carries the outcome', async () => {
    const s = newSandbox();
    const app = join(s.dir, 'app');
    const file = writeTransactionFile(
      s.base,
      'install.yaml',
      `name: install demo
steps:
  - kind: files.ensureDir
    args: { path: ${app}, mode: 0o750 }
  - kind: files.writeFile
    id: config
    args: { path: ${app}/app.conf, content: "port = 80\\n", mode: 0o640 }
  - kind: files.chown
    args: { path: ${app}/app.conf, uid: 0, gid: { $result: config.gid } }
`,
    );
    const r = await unwind(['apply', file, '--root', s.root, '--json']);
    expect(r.stderr).toContain('committed');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; exitCode: number; outcome: { status: string; steps: Array<{ status: string; description: string }> } };
    expect(report).toMatchObject({ ok: true, exitCode: 0, outcome: { status: 'committed' } });
    expect(report.outcome.steps.map((step) => step.status)).toEqual(['committed', 'committed', 'committed']);
    expect(fs.readFileSync(join(app, 'app.conf'), 'utf8')).toBe('port = 80\n');
    expect(fs.statSync(join(app, 'app.conf')).mode & 0o777).toBe(0o640);
    expect(fs.statSync(app).mode & 0o777).toBe(0o750);
  });

  it('a failing step rolls everything back: exit 1, the machine as it was (JSON on standard input)', async () => {
    const s = newSandbox();
    const before = treeState(s.dir);
    const file = { name: 'fails', steps: [{ kind: 'files.writeFile', args: { path: join(s.dir, 'a.conf'), content: 'new\n' } }, { kind: 'files.writeFile', args: { path: join(s.dir, 'missing-dir', 'b.conf'), content: '' } }] };
    const r = await unwindWithInput(['apply', '-', '--root', s.root, '--json'], JSON.stringify(file));
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { file: string; outcome: { status: string; cause: { message: string } } };
    expect(report.file).toBe('standard input');
    expect(report.outcome.status).toBe('rolled-back');
    expect(report.outcome.cause.message).toContain('missing-dir');
    expect(treeState(s.dir)).toEqual(before);
  });

  it('--dry-run prints the plan and what would change, and changes nothing (not even the journal root)', async () => {
    const s = newSandbox();
    const before = treeState(s.dir);
    const file = writeTransactionFile(s.base, 'plan.json', {
      name: 'plan me',
      steps: [
        { kind: 'files.writeFile', args: { path: join(s.dir, 'a.conf'), content: 'old a.conf\n' } },
        { kind: 'files.writeFile', args: { path: join(s.dir, 'b.conf'), content: 'b\n' } },
      ],
    });
    const text = await unwind(['apply', file, '--root', s.root, '--dry-run']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/1\. write .*a\.conf.*no change/);
    expect(text.stdout).toMatch(/2\. write .*b\.conf.*change/);
    const json = await unwind(['apply', file, '--root', s.root, '--dry-run', '--json']);
    const plan = JSON.parse(json.stdout) as { dryRun: boolean; steps: Array<{ wouldChange: boolean }> };
    expect(plan.dryRun).toBe(true);
    expect(plan.steps.map((step) => step.wouldChange)).toEqual([false, true]);
    expect(treeState(s.dir)).toEqual(before);
    expect(fs.existsSync(s.root)).toBe(false);
  });

  it('an unfinished transaction on the root (a SIGKILLed apply) is refused (exit 5) as the library does, and --recover-first rolls it back, then runs', async () => {
    const s = newSandbox();
    const before = treeState(s.dir);
    const token = join(s.base, 'kill-token');
    fs.writeFileSync(token, '');
    const killed = writeTransactionFile(s.base, 'killed.json', {
      name: 'killed',
      steps: [
        { kind: 'files.writeFile', args: { path: join(s.dir, 'a.conf'), content: 'half\n' } },
        { kind: 'test.writeMarker', args: { path: join(s.dir, 'marker'), content: 'M', killIn: 'do', killToken: token } },
      ],
    });
    const crash = await unwind(['apply', killed, '--root', s.root, ...TEST_KINDS]);
    expect(crash.signal).toBe('SIGKILL');
    expect(fs.readFileSync(join(s.dir, 'a.conf'), 'utf8')).toBe('half\n');
    const next = writeTransactionFile(s.base, 'next.json', { name: 'next', steps: [{ kind: 'files.writeFile', args: { path: join(s.dir, 'c.conf'), content: 'c\n' } }] });
    const killedId = fs.readdirSync(s.root).find((entry) => entry.includes('-killed-'))!;
    const journalBefore = treeState(s.root);

    // --dry-run says first that the run would be refused, with the run's exit code, and touches nothing.
    const dryText = await unwind(['apply', next, '--root', s.root, '--dry-run', ...TEST_KINDS]);
    expect(dryText.code).toBe(5);
    expect(dryText.stderr).toContain(`unwind: error: the run would be refused: journal root ${s.root} holds an unfinished transaction (${killedId})`);
    expect(dryText.stderr).toContain(`unwind recover --root ${s.root}`);
    expect(dryText.stdout).toMatch(/1\. write .*c\.conf.*change/);
    const dryJson = await unwind(['apply', next, '--root', s.root, '--dry-run', '--json', ...TEST_KINDS]);
    expect(dryJson.code).toBe(5);
    expect(JSON.parse(dryJson.stdout)).toMatchObject({
      ok: false,
      exitCode: 5,
      dryRun: true,
      cause: { code: 'UNFINISHED_TRANSACTION', transactionIds: [killedId], resume: `unwind recover --root ${s.root}` },
      steps: [{ index: 0, wouldChange: true }],
    });
    // With --recover-first the run would recover it and go on: the dry run says so, exit 0, and still changes nothing.
    const dryRecover = await unwind(['apply', next, '--root', s.root, '--dry-run', '--recover-first', '--json', ...TEST_KINDS]);
    expect(dryRecover.code).toBe(0);
    const recoverPlan = JSON.parse(dryRecover.stdout) as Record<string, unknown>;
    expect(recoverPlan).toMatchObject({ ok: true, exitCode: 0, wouldRecover: [killedId] });
    expect(recoverPlan).not.toHaveProperty('cause');
    const dryRecoverText = await unwind(['apply', next, '--root', s.root, '--dry-run', '--recover-first', ...TEST_KINDS]);
    expect(dryRecoverText.code).toBe(0);
    expect(dryRecoverText.stdout).toContain(`first: recover 1 unfinished transaction on the root (${killedId})`);
    expect(treeState(s.root)).toEqual(journalBefore);
    expect(fs.readFileSync(join(s.dir, 'a.conf'), 'utf8')).toBe('half\n');
    expect(fs.existsSync(join(s.dir, 'c.conf'))).toBe(false);

    const refused = await unwind(['apply', next, '--root', s.root, '--json', ...TEST_KINDS]);
    expect(refused.code).toBe(5);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, exitCode: 5, outcome: { status: 'refused', cause: { code: 'UNFINISHED_TRANSACTION' } } });
    expect(fs.existsSync(join(s.dir, 'c.conf'))).toBe(false);
    const recovered = await unwind(['apply', next, '--root', s.root, '--recover-first', '--json', ...TEST_KINDS]);
    expect(recovered.code).toBe(0);
    const report = JSON.parse(recovered.stdout) as { outcome: { recovered: Array<{ result: string }> } };
    expect(report.outcome.recovered.map((t) => t.result)).toEqual(['rolled-back']);
    expect(treeState(s.dir, { ignore: (path) => path === 'c.conf' })).toEqual(before);
    expect(fs.readFileSync(join(s.dir, 'c.conf'), 'utf8')).toBe('c\n');
    expect(fs.readFileSync(join(s.dir, 'a.conf'), 'utf8')).toBe('old a.conf\n');
    expect(fs.existsSync(join(s.dir, 'marker'))).toBe(false);
  });

  it('--dry-run reports a root whose lock a live process holds as the run would refuse it (exit 3), touching nothing', async () => {
    const s = newSandbox();
    fs.mkdirSync(s.root, { mode: 0o700 });
    const lock = acquireLock(s.root, { purpose: 'a test holding the lock' });
    try {
      const file = writeTransactionFile(s.base, 'plan.json', { name: 'plan me', steps: [{ kind: 'files.writeFile', args: { path: join(s.dir, 'new.conf'), content: 'new\n' } }] });
      const rootBefore = treeState(s.root);
      const text = await unwind(['apply', file, '--root', s.root, '--dry-run']);
      expect(text.code).toBe(3);
      expect(text.stderr).toMatch(new RegExp(`^unwind: error: the run would be refused: .*held by pid ${process.pid}`, 'm'));
      const json = await unwind(['apply', file, '--root', s.root, '--dry-run', '--json']);
      expect(json.code).toBe(3);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, exitCode: 3, dryRun: true, cause: { code: 'LOCK_HELD', holder: { pid: process.pid } } });
      const real = await unwind(['apply', file, '--root', s.root, '--json']);
      expect(JSON.parse(real.stdout)).toMatchObject({ exitCode: 3, outcome: { status: 'refused', cause: { code: 'LOCK_HELD' } } });
      expect(treeState(s.root)).toEqual(rootBefore);
      expect(fs.existsSync(join(s.dir, 'new.conf'))).toBe(false);
    } finally {
      lock.release();
    }
  });
});
