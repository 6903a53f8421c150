/**
 * One real systemd user manager for this project's tests,
 * started with the example's own `startSandboxManager`. Only inside the test
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
    installerManager: InstallerManager;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const reason = cannotStartManager();
  if (reason) {
    console.warn(`service-installer tests skip: ${reason}`);
    project.provide('installerManager', { skip: reason, home: '', runtimeDir: '' });
    return undefined;
  }
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-installer-manager-'));
  try {
    const m = await startSandboxManager({ home: join(base, 'home'), runtimeDir: join(base, 'run'), log: join(base, 'manager.log') });
    project.provide('installerManager', { home: m.home, runtimeDir: m.runtimeDir });
    return async () => {
      await m.stop();
      fs.rmSync(base, { recursive: true, force: true });
    };
  } catch (error) {
    fs.rmSync(base, { recursive: true, force: true });
    throw error;
  }
}
