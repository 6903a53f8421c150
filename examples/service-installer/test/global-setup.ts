/**
 * Real systemd user managers for this project's tests, one per test worker
 * (a file uses the one of the worker running it: files side by side never
 * share a unit directory or default.target.wants), started with
 * `startSandboxManager`, as the example's sandbox runs start theirs. Only
 * inside the test run's private mount namespace (scripts/test.mjs sets
 * UNWIND_IN_NAMESPACE=1); anywhere else nothing is mounted and the tests
 * fail, saying why.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startForEveryWorker } from '../../../packages/core/src/testing/every-worker.js';
import { cannotStartSandboxManager, startSandboxManager, type SandboxManager } from '../../../packages/core/src/testing/sandbox-manager.js';

export interface InstallerManager {
  /** Why the real-manager tests cannot run here; undefined when the manager runs. */
  skip?: string;
  home: string;
  runtimeDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** One per worker; index VITEST_POOL_ID - 1. */
    installerManagers: InstallerManager[];
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const reason = cannotStartSandboxManager();
  if (reason) {
    console.warn(`service-installer tests cannot run: ${reason}`);
    project.provide('installerManagers', [{ skip: reason, home: '', runtimeDir: '' }]);
    return undefined;
  }
  const { started, stop } = await startForEveryWorker(project, startManager, async ({ manager, base }) => {
    await manager.stop();
    fs.rmSync(base, { recursive: true, force: true });
  });
  project.provide('installerManagers', started.map(({ manager: { home, runtimeDir } }) => ({ home, runtimeDir })));
  return stop;
}

/** Starts one manager in a directory of its own. */
async function startManager(): Promise<{ manager: SandboxManager; base: string }> {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-installer-manager-'));
  try {
    return { manager: await startSandboxManager({ home: join(base, 'home'), runtimeDir: join(base, 'run'), log: join(base, 'manager.log') }), base };
  } catch (error) {
    fs.rmSync(base, { recursive: true, force: true });
    throw error;
  }
}
