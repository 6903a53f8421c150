// Shared by the examples' tests: another live run, holding a journal root's
// lock from its own process, the way a second operator's run would.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '..');
const lockModule = pathToFileURL(join(repoRoot, 'packages/core/src/lock.ts')).href;

/**
 * Starts a child process that takes the lock of `root` with the real
 * `acquireLock` and sleeps; resolves once it holds it. `release` kills it
 * (SIGKILL, by its pid): call it in cleanup.
 *
 * @example
 * ```ts
 * const holder = await holdLock(journalRoot);
 * cleanups.push(holder.release);
 * ```
 */
export async function holdLock(root: string, purpose = 'another run'): Promise<{ pid: number; release: () => void }> {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const script = `import { acquireLock } from ${JSON.stringify(lockModule)};
acquireLock(${JSON.stringify(root)}, { purpose: ${JSON.stringify(purpose)} });
process.stdout.write('held\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const release = () => {
    try {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(() => {
      release();
      fail(new Error(`the lock holder did not take the lock in time: ${stderr}`));
    }, 30_000);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('held')) {
        clearTimeout(timer);
        done();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`the lock holder exited with ${code}: ${stderr}`));
    });
  });
  return { pid: child.pid!, release };
}

/**
 * What every example's command line must answer while another live run holds
 * its lock: exit 3, the holder's pid named, and no stack trace.
 *
 * @example
 * ```ts
 * expectLockHeld(await runTypeScript(main, ['recover', '--sandbox', sandbox]), holder.pid);
 * ```
 */
export function expectLockHeld(child: { code: number | null; stdout: string; stderr: string }, pid: number): void {
  const output = child.stdout + child.stderr;
  expect(child.code, output).toBe(3);
  expect(output).toContain(`pid ${pid}`);
  expect(output).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace
}
