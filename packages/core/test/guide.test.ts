import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTypeScript, workspaceRoot } from '@unwind/core/testing';

// docs/writing-a-step-kind.md, its code compiled and run verbatim: every ```ts
// block starts with `// <file>.ts` and is saved under that name; the blocks
// are type-checked together (strict, the repository's settings), the test
// block runs under vitest, and recovery runs with the guide's kinds after a
// real SIGKILL in the middle of a transaction that used the guide's kind.
const root = workspaceRoot(import.meta.dirname);
const guide = fs.readFileSync(join(root, 'docs', 'writing-a-step-kind.md'), 'utf8');
const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
// Inside the checkout so that io-ts, vitest and tsx resolve as they do for a user's
// project; a dot directory, so no test run picks its files up as the repository's own tests.
const directory = fs.mkdtempSync(join(import.meta.dirname, '.guide-'));
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

const files = blocks.map((code) => {
  const name = /^\/\/ ([\w.-]+\.ts)\n/.exec(code)?.[1];
  if (!name) throw new Error(`a ts block of the guide does not start with "// <file>.ts":\n${code.slice(0, 200)}`);
  fs.writeFileSync(join(directory, name), code);
  return name;
});

const node = (args: string[]) => spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 120_000 });

describe('the step-kind guide', () => {
  it('has the kind, its conformance test, its kinds list and its recovery call', () => {
    expect(files).toEqual(['append-line.ts', 'append-line.test.ts', 'kinds.ts', 'recover.ts']);
    expect(guide).toContain('unwind recover --root /var/lib/myapp/unwind --kinds ./dist/kinds.js');
  });

  it('type-checks (strict, no implicit any, the imports it shows are the imports it needs)', () => {
    fs.writeFileSync(
      join(directory, 'tsconfig.json'),
      JSON.stringify({ extends: join(root, 'tsconfig.json'), compilerOptions: { noEmit: true, noUnusedLocals: true }, include: ['*.ts'] }),
    );
    const result = node([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(directory, 'tsconfig.json')]);
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  }, 120_000);

  it('its conformance test passes under vitest', () => {
    fs.writeFileSync(
      join(directory, 'vitest.config.ts'),
      [
        `import { defineConfig } from 'vitest/config';`,
        `import { alias } from ${JSON.stringify(join(root, 'vitest.shared.ts'))};`,
        `export default defineConfig({ resolve: { alias }, test: { include: ['append-line.test.ts'] } });`,
      ].join('\n'),
    );
    const report = join(directory, 'report.json');
    const result = node([join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--root', directory, '--config', join(directory, 'vitest.config.ts'), '--reporter=json', `--outputFile=${report}`]);
    expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
    // The suite's cases ran and passed: none failed, none skipped.
    const counts = JSON.parse(fs.readFileSync(report, 'utf8')) as { numTotalTests: number; numPassedTests: number };
    expect(counts.numTotalTests).toBeGreaterThan(5);
    expect(counts.numPassedTests).toBe(counts.numTotalTests);
  }, 120_000);

  it('recovers a transaction killed half-way with the kinds the guide registers', async () => {
    const journal = join(directory, 'journal');
    const log = join(directory, 'log');
    const config = join(directory, 'app.conf');
    fs.writeFileSync(log, 'first\n');
    // The child appends with the guide's kind, then is SIGKILLed by a writeFile's
    // validate command: recovery must undo both, with the kinds from kinds.ts.
    const child = join(directory, 'crash-child.ts');
    fs.writeFileSync(
      child,
      [
        `import { fileJournal, transaction } from '@unwind/core';`,
        `import { writeFile } from '@unwind/files';`,
        `import { appendLine } from './append-line.js';`,
        `const [root, log, config] = process.argv.slice(2) as [string, string, string];`,
        `const tx = transaction('guide', { journal: fileJournal({ root }), handleSignals: false });`,
        `tx.add(appendLine({ path: log, line: 'second' }));`,
        `tx.add(writeFile({ path: config, content: 'x\\n', validate: ['/bin/sh', '-c', 'kill -KILL $PPID; sleep 5', 'sh', '%s'] }));`,
        `await tx.run();`,
      ].join('\n'),
    );
    const outcome = await runTypeScript(child, [journal, log, config], { killAfterMs: 60_000 });
    expect(outcome.signal, outcome.stderr).toBe('SIGKILL');
    expect(fs.readFileSync(log, 'utf8')).toBe('first\nsecond\n');

    const { recoverMyApp } = (await import(join(directory, 'recover.ts'))) as { recoverMyApp: (root: string) => Promise<{ ok: boolean; transactions: unknown[] }> };
    const report = await recoverMyApp(journal);
    expect(report.ok).toBe(true);
    expect(report.transactions).toHaveLength(1);
    expect(fs.readFileSync(log, 'utf8')).toBe('first\n');
    expect(fs.existsSync(config)).toBe(false);
  }, 120_000);
});
