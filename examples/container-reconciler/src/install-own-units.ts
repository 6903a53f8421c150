// `container-reconciler install-units`: the reconciler's own service and
// timer installed into the system manager as one transaction, journaled with
// the runs' own journal (so a killed install is recovered by the next run).
import { join } from 'node:path';
import { describeOutcome, fileJournal, transaction } from '@unwind/core';
import { reconcilerUnitSteps } from './own-units.js';
import { reconcilerKinds } from './reconciler.js';

/**
 * Installs `NAME.service` (running `command`) and `NAME.timer` into the
 * system manager, enables and starts the timer; rolls every step back on a
 * failure. Exit code 0 installed, 1 rolled back, 2 rollback failed, 3 lock
 * held, 4 refused.
 *
 * @example
 * ```ts
 * const { exitCode, message } = await installOwnUnits({ command: ['/usr/bin/node', '/opt/cr/main.js', 'sync', '--desired', '/srv/desired', '--state', '/var/lib/cr'], stateDir: '/var/lib/cr' });
 * ```
 */
export async function installOwnUnits(options: { command: readonly string[]; stateDir: string; name?: string; onBootSec?: string; interval?: string }): Promise<{ exitCode: number; message: string }> {
  const steps = reconcilerUnitSteps({ command: options.command, ...(options.name ? { name: options.name } : {}), ...(options.onBootSec ? { onBootSec: options.onBootSec } : {}), ...(options.interval ? { interval: options.interval } : {}) });
  const tx = transaction(`install the reconciler's own service and timer`, { journal: fileJournal({ root: join(options.stateDir, 'journal') }), recoverFirst: true, kinds: reconcilerKinds });
  for (const step of steps) tx.add(step);
  const outcome = await tx.run();
  const exitCode = { committed: 0, 'rolled-back': 1, 'rollback-failed': 2, refused: outcome.status === 'refused' && outcome.cause.code === 'LOCK_HELD' ? 3 : 4 }[outcome.status];
  return { exitCode, message: describeOutcome(outcome) };
}
