import { inject } from 'vitest';
import type { ManagerFixture } from './global-setup.js';

/**
 * The user manager of the test worker running this file (global-setup.ts
 * starts one per worker): files that run side by side never share a unit
 * directory, and a file always finds the same manager.
 */
export function workerManager(): ManagerFixture {
  const managers = inject('systemdManagers');
  // vitest numbers the workers running at the same time 1..maxWorkers.
  const worker = Number(process.env.VITEST_POOL_ID ?? '1');
  const manager = managers[worker - 1];
  // Never fall back to another worker's manager: two files would share a unit directory.
  if (!manager) throw new Error(`no user manager for test worker ${worker}: the global setup started ${managers.length}`);
  return manager;
}
