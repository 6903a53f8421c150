import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root, where `--import tsx` resolves. */
export const repoRoot = resolve(import.meta.dirname, '../../..');

/** Runs a TypeScript file in a child node process; resolves with how it ended. */
export function runChild(script: string, args: string[], options: { killAfterMs?: number } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      done({ code, signal, stderr });
    });
  });
}

/** A temp directory removed after the test. */
export function tempDir(prefix = 'unwind-core-'): { path: string; remove: () => void } {
  const path = fs.mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => fs.rmSync(path, { recursive: true, force: true }) };
}
