/**
 * Starts real systemd user managers for the `user`-scope tests, one per test
 * worker of the run (a file uses the one of the worker running it, see
 * worker-manager.ts), so test files run side by side and each still sees a
 * unit directory and a default.target.wants no other file touches at the
 * same time: root's own `/lib/systemd/systemd --user`, with a private
 * XDG_RUNTIME_DIR and HOME, as a child (startSandboxManager). It runs inside
 * the throw-away machine of `node scripts/test.mjs`, where systemd is PID 1
 * (so /run/systemd/system exists and nothing needs mounting); anywhere else
 * the setup fails and says how to run the tests. The other scopes (system,
 * `{ user }` through user@UID.service) are tested against the machine's own
 * managers in units.machine.test.ts. The apply-* and container-reconciler
 * examples use this setup too.
 *
 * The managers cannot outlive the run: each gets SIGKILL when this process
 * dies (setpriv --pdeathsig), on process exit, and in teardown (SIGTERM,
 * bounded wait, SIGKILL), whatever the tests did.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startForEveryWorker } from '../../core/src/testing/every-worker.js';
import { notInsideMachine } from '../../core/src/testing/machine.js';
import { startSandboxManager, type SandboxManager } from '../../core/src/testing/sandbox-manager.js';

export interface ManagerFixture {
  home: string;
  runtimeDir: string;
  pid: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** One manager per worker; index VITEST_POOL_ID - 1. */
    systemdManagers: ManagerFixture[];
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const outside = notInsideMachine();
  if (outside) throw new Error(`the systemd tests run inside the throw-away machine (systemd as PID 1): ${outside}`);
  const { started, stop } = await startForEveryWorker(project, startManager, async ({ manager, base }) => {
    await manager.stop();
    fs.rmSync(base, { recursive: true, force: true });
  });
  project.provide('systemdManagers', started.map(({ manager: { home, runtimeDir, pid } }) => ({ home, runtimeDir, pid })));
  return stop;
}

/** Starts one manager in a directory of its own; rejects with the tail of its log. */
async function startManager(): Promise<{ manager: SandboxManager; base: string }> {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-systemd-'));
  const log = join(base, 'manager.log');
  try {
    return { manager: await startSandboxManager({ home: join(base, 'home'), runtimeDir: join(base, 'run'), log }), base };
  } catch (error) {
    const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '';
    fs.rmSync(base, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}\n--- manager log ---\n${text}`);
  }
}
