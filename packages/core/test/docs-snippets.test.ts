import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { acquireLock, fileJournal, transaction, type Outcome } from '@unwind/core';
import { workspaceRoot } from '@unwind/core/testing';
import { tempDir } from './helpers.js';

// The ```ts blocks of docs/concepts.md that start with `// <file>.ts`, compiled
// (strict, the repository's settings) and run: a snippet that handles an outcome
// must narrow its typed cause, never test `instanceof` on serialised data.
const root = workspaceRoot(import.meta.dirname);
const page = fs.readFileSync(join(root, 'docs', 'concepts.md'), 'utf8');
const blocks = [...page.matchAll(/```ts\n(\/\/ ([\w.-]+\.ts)\n[\s\S]*?)```/g)].map((match) => ({ name: match[2]!, code: match[1]! }));
// Inside the checkout so '@unwind/core' resolves as it does in the repository; a dot directory, so no run picks it up as a test.
const directory = fs.mkdtempSync(join(import.meta.dirname, '.concepts-'));
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));
for (const block of blocks) fs.writeFileSync(join(directory, block.name), block.code);

describe('the code in docs/concepts.md', () => {
  it('has the outcome-handling snippet, and it uses no instanceof', () => {
    expect(blocks.map((b) => b.name)).toEqual(['handle-outcome.ts']);
    expect(blocks[0]!.code).not.toContain('instanceof');
  });

  it('type-checks (strict, unused locals are errors)', () => {
    fs.writeFileSync(join(directory, 'tsconfig.json'), JSON.stringify({ extends: join(root, 'tsconfig.json'), compilerOptions: { noEmit: true, noUnusedLocals: true }, include: ['*.ts'] }));
    const result = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(directory, 'tsconfig.json')], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  }, 120_000);

  it('narrows a held lock to its holder at run time', async () => {
    const { report } = (await import(join(directory, 'handle-outcome.ts'))) as { report: (outcome: Outcome) => number };
    const dir = tempDir();
    const journalRoot = join(dir.path, 'journal');
    fs.mkdirSync(journalRoot, { mode: 0o700 });
    const lock = acquireLock(journalRoot, { purpose: 'another run' });
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const outcome = await transaction('while locked', { journal: fileJournal({ root: journalRoot }), handleSignals: false }).run();
      expect(outcome.status === 'refused' && outcome.cause.code === 'LOCK_HELD' && outcome.cause.holder.pid).toBe(process.pid);
      expect(report(outcome)).toBe(3);
      expect(errors).toHaveBeenCalledWith(expect.stringContaining(`another run holds the lock: pid ${process.pid}`));
    } finally {
      errors.mockRestore();
      lock.release();
      dir.remove();
    }
  });
});
