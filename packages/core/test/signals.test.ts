import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { treeState } from '@unwind/core/testing';
import { repoRoot, tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

async function until(check: () => boolean, what: string) {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SIGINT/SIGTERM during a run', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} starts a rollback that a second ${signal} does not cut short`, async () => {
      const base = tempDir();
      cleanups.push(base.remove);
      const dir = join(base.path, 'sandbox');
      fs.mkdirSync(dir);
      const before = treeState(dir);
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'signal-child.ts'), JSON.stringify({ root: join(base.path, 'journal'), dir })], {
        cwd: repoRoot,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      await until(() => fs.existsSync(join(base.path, 'ready')), 'the step to start');
      expect(fs.readFileSync(join(dir, 'a'), 'utf8')).toBe('A');
      child.kill(signal);
      await until(() => fs.existsSync(join(base.path, 'ready.undoing')), 'the rollback to start');
      child.kill(signal); // the second signal is reported, and ignored
      expect(await closed).toBe(0);
      expect(stderr).toBe(''); // the library reports signals through events; it never writes to the process's streams
      const outcome = JSON.parse(fs.readFileSync(join(base.path, 'outcome.json'), 'utf8'));
      expect(outcome.status).toBe('rolled-back');
      expect(outcome.cause).toMatchObject({ code: 'ABORTED', message: `transaction cancelled by ${signal}` });
      expect(treeState(dir)).toEqual(before);
    }, 30_000);
  }
});
