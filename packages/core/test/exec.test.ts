import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandAbortedError, CommandFailedError, CommandNotFoundError, CommandTimeoutError, runCommand } from '@unwind/core';
import { goneWithin } from '@unwind/core/testing';
import { isRunning } from '../src/process-tree.js';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('runCommand', () => {
  it('passes argv without a shell: metacharacters stay literal', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const evil = `$(touch ${join(dir.path, 'pwned')}); rm -rf /nonexistent`;
    const { stdout } = await runCommand({ argv: ['printf', '%s', evil] });
    expect(stdout).toBe(evil);
    expect(fs.existsSync(join(dir.path, 'pwned'))).toBe(false);
  });

  it('a timeout longer than a Node timer keeps (2^31-1 ms) is refused before anything runs: it would fire at once and kill the command as it starts', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const marker = join(dir.path, 'ran');
    for (const spec of [{ timeoutMs: 3_000_000_000 }, { timeoutMs: Number.NaN }, { killGraceMs: -1 }]) {
      await expect(runCommand({ argv: ['touch', marker], ...spec })).rejects.toMatchObject({ name: 'InvalidInputError', code: 'INVALID_INPUT' });
    }
    expect(fs.existsSync(marker)).toBe(false);
    await runCommand({ argv: ['touch', marker], timeoutMs: 2_147_483_647 });
    expect(fs.existsSync(marker)).toBe(true);
  });

  it('a non-zero exit rejects with argv, exit code and stderr', async () => {
    const error = await runCommand({ argv: ['sh', '-c', 'echo nope >&2; exit 7'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandFailedError);
    const failed = error as CommandFailedError;
    expect(failed.result?.exitCode).toBe(7);
    expect(failed.context).toMatchObject({ argv: ['sh', '-c', 'echo nope >&2; exit 7'], exitCode: 7, stderr: 'nope\n' });
    expect(failed.message).toContain('exited with 7: nope');
  });

  it('okExitCodes and mapError shape the result', async () => {
    await expect(runCommand({ argv: ['sh', '-c', 'exit 3'], okExitCodes: [0, 3] })).resolves.toMatchObject({ exitCode: 3 });
    class Busy extends Error {}
    await expect(runCommand({ argv: ['sh', '-c', 'exit 8'], mapError: (r) => (r.exitCode === 8 ? new Busy('busy') : undefined) })).rejects.toBeInstanceOf(Busy);
  });

  it('the environment is explicit: nothing leaks in', async () => {
    process.env.UNWIND_SECRET_TEST = 'leak';
    try {
      const { stdout } = await runCommand({ argv: ['env'] });
      expect(stdout).not.toContain('UNWIND_SECRET_TEST');
      expect(stdout).toContain('LC_ALL=C');
      const custom = await runCommand({ argv: ['env'], env: { ONLY: 'this' } });
      expect(custom.stdout.trim()).toBe('ONLY=this');
    } finally {
      delete process.env.UNWIND_SECRET_TEST;
    }
  });

  it('a timeout kills the whole process group, grandchildren included', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const pidFile = join(dir.path, 'grandchild.pid');
    const error = await runCommand({ argv: ['sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`], timeoutMs: 300, killGraceMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandTimeoutError);
    const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 300));
    expect(isRunning(grandchild)).toBe(false);
  });

  it('a program that ignores SIGTERM is killed after the grace period', async () => {
    const started = Date.now();
    const error = await runCommand({ argv: ['sh', '-c', 'trap "" TERM; sleep 30'], timeoutMs: 200, killGraceMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandTimeoutError);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('an abort signal kills the process group and is not retryable', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await runCommand({ argv: ['sleep', '30'], signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandAbortedError);
    expect((error as CommandAbortedError).retryable).toBe(false);
  });

  it('a missing program is a typed, non-retryable error', async () => {
    const error = await runCommand({ argv: ['/nonexistent/program'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandNotFoundError);
    expect((error as CommandNotFoundError).retryable).toBe(false);
  });

  it('bad argv is refused before anything runs', async () => {
    await expect(runCommand({ argv: [] })).rejects.toThrow(/non-empty argv/);
    await expect(runCommand({ argv: ['echo', 'a\0b'] })).rejects.toThrow(/NUL/);
    await expect(runCommand({ argv: 'rm -rf /' as never })).rejects.toThrow(/non-empty argv/);
  });
});

describe('runCommand: a timeout or a cancellation reaches descendants that left the process group', () => {
  /** Runs `sh` that starts `setsid sleep 30` (a new session: out of the group the kill signals) and waits; the sleep's pid is written to a file. */
  async function escapedSleeper(spec: { timeoutMs?: number; signal?: AbortSignal }) {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const pidFile = join(dir.path, 'escaped.pid');
    const error = await runCommand({ argv: ['sh', '-c', `setsid sleep 30 & echo $! > ${pidFile}; wait`], killGraceMs: 200, ...spec }).catch((e: unknown) => e);
    const escaped = Number(fs.readFileSync(pidFile, 'utf8'));
    cleanups.push(() => {
      try {
        process.kill(escaped, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    });
    // It did leave the group: its session is its own.
    return { error, escaped };
  }

  it('a timeout kills a setsid descendant too', async () => {
    const { error, escaped } = await escapedSleeper({ timeoutMs: 500 });
    expect(error).toBeInstanceOf(CommandTimeoutError);
    expect(await goneWithin(escaped, 5000)).toBe(true);
  });

  it('an abort kills a setsid descendant too', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const { error, escaped } = await escapedSleeper({ signal: controller.signal });
    expect(error).toBeInstanceOf(CommandAbortedError);
    expect(await goneWithin(escaped, 5000)).toBe(true);
  });

  it('a command that ends by itself leaves what it started in its own session running (a daemon it was asked to start)', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const pidFile = join(dir.path, 'daemon.pid');
    await runCommand({ argv: ['sh', '-c', `setsid sleep 30 > /dev/null 2>&1 < /dev/null & echo $! > ${pidFile}`] });
    const daemon = Number(fs.readFileSync(pidFile, 'utf8'));
    cleanups.push(() => {
      try {
        process.kill(daemon, 'SIGKILL');
      } catch {
        // already gone: the assertion below says so
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(isRunning(daemon)).toBe(true);
  });
});
