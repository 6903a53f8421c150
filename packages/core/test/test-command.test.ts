/**
 * The README's test command (`node scripts/test.mjs`, what `pnpm test` runs
 * after the build) in a deliberately broken environment: it must end red,
 * say why, and run no test — a machine without systemd, or a user without
 * root, would otherwise get a green run that tested nothing real.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { temporaryDirectory, workspaceRoot } from '@unwind/core/testing';

const repository = workspaceRoot(import.meta.dirname);
const testCommand = join(repository, 'scripts/test.mjs');

/** Runs the test command with `env` added (minus the opt-out a developer may have set) and `prefix` before node. */
function testRun(env: Record<string, string>, prefix: string[] = []) {
  const environment: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete environment.UNWIND_TEST_ALLOW_SKIPS;
  const argv = [...prefix, process.execPath, testCommand];
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd: repository, env: environment, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, signal: result.signal, output: `${result.stdout}\n${result.stderr}` };
}

describe('the test command in a broken environment', () => {
  it('no systemd binary: exits 1 naming the missing binary, boots nothing and runs no test', () => {
    const nowhere = temporaryDirectory('unwind-no-systemd-');
    try {
      const missing = join(nowhere.path, 'lib/systemd/systemd');
      const run = testRun({ UNWIND_MACHINE_SYSTEMD: missing });
      expect(run.status, run.output).toBe(1);
      expect(run.output).toContain(`unwind: FAILED: cannot boot the throw-away machine every test runs in: ${missing} not found`);
      expect(run.output).not.toMatch(/machine booted|\d+ passed/);
    } finally {
      nowhere.remove();
    }
  }, 120_000);

  it('not root: exits 1 saying so and how to opt out, and runs no test', () => {
    const run = testRun({}, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']);
    expect(run.status, run.output).toBe(1);
    expect(run.output).toContain('unwind: FAILED: not run as root');
    expect(run.output).toContain('UNWIND_TEST_ALLOW_SKIPS=1');
    expect(run.output).not.toMatch(/machine booted|\d+ passed/);
  }, 120_000);
});
