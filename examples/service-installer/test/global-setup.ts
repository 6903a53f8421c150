/**
 * Real systemd user managers for this project's tests, one per test worker
 * (a file uses the one of the worker running it: files side by side never
 * share a unit directory or default.target.wants), started with the
 * example's own `startSandboxManager`. Only inside the test
 * run's private mount namespace (scripts/test.mjs sets UNWIND_IN_NAMESPACE=1);
 * anywhere else nothing is mounted and the tests skip, saying why.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { cannotStartManager, startSandboxManager } from '../src/user-manager.js';

export interface InstallerManager {
  /** Why the real-manager tests skip; undefined when the manager runs. */
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
  const reason = cannotStartManager();
  if (reason) {
    console.warn(`service-installer tests skip: ${reason}`);
    project.provide('installerManagers', [{ skip: reason, home: '', runtimeDir: '' }]);
    return undefined;
  }
  const started = await Promise.allSettled(Array.from({ length: workerCount(project) }, () => startManager()));
  const teardown = async () => {
    for (const manager of started) if (manager.status === 'fulfilled') await manager.value.stop();
  };
  const failed = started.find((manager) => manager.status === 'rejected');
  if (failed) {
    await teardown();
    throw failed.reason;
  }
  project.provide('installerManagers', started.map((manager) => (manager as PromiseFulfilledResult<InstallerManager & { stop: () => Promise<void> }>).value).map(({ home, runtimeDir }) => ({ home, runtimeDir })));
  return teardown;
}

/** Starts one manager in a directory of its own; stop() also removes the directory. */
async function startManager(): Promise<InstallerManager & { stop: () => Promise<void> }> {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-installer-manager-'));
  try {
    const m = await startSandboxManager({ home: join(base, 'home'), runtimeDir: join(base, 'run'), log: join(base, 'manager.log') });
    return {
      home: m.home,
      runtimeDir: m.runtimeDir,
      stop: async () => {
        await m.stop();
        fs.rmSync(base, { recursive: true, force: true });
      },
    };
  } catch (error) {
    fs.rmSync(base, { recursive: true, force: true });
    throw error;
  }
}

/** How many test files of the project can run at once: vitest numbers their workers 1..this. */
function workerCount(project: TestProject): number {
  // A project without its own maxWorkers takes the run's (vitest.config.ts).
  return Math.max(1, project.config.maxWorkers || project.vitest.config.maxWorkers || 1);
}
