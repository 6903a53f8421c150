// A rolled-back update runs the container's old definition again. The rollback goes newest
// first: the restart's undo ran while the new unit was still loaded and left the unit up, so the
// old file came back under a process the new file had started (found by reading the rollback
// order; the crash-machine test kills right after a Quadlet update's restart). Here on a `.service`
// container, on the shared real user manager: the update fails after its last step, so every
// step's undo runs.
import * as fs from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { failingStep } from '@unwind/core/testing/helpers';
import { unitProperties } from '@unwind/systemd';
import { reconcileContainers } from '../src/reconciler.js';
import { makeSandbox, manager, names, skipReason, type Sandbox } from './helpers.js';

const skip = skipReason();
const sandboxes: Sandbox[] = [];
afterEach(async () => {
  for (const s of sandboxes.splice(0)) await s.cleanup();
});

const unit = (seconds: number) => `[Unit]\nDescription=rolled back\n\n[Service]\nType=simple\nExecStart=/bin/sleep ${seconds}\n`;

/** The command line the unit's main process runs, or '' when it runs none. */
async function runs(name: string): Promise<string> {
  const { MainPID } = await unitProperties(`${name}.service`, ['MainPID'], 'user', { ...manager(), commandTimeoutMs: 15_000 });
  if (!MainPID || MainPID === '0') return '';
  return fs.readFileSync(`/proc/${MainPID}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
}

describe('container reconciler: an update rolled back after its restart', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  it('the unit runs its old command again, not the one of the file that was rolled back', async () => {
    const s = makeSandbox();
    sandboxes.push(s);
    const [a] = names('a') as [string];
    s.desire(a, unit(600));
    const created = await reconcileContainers(s.config());
    expect(created.exitCode, JSON.stringify(created.items)).toBe(0);
    expect(await runs(a)).toBe('/bin/sleep 600');
    s.desire(a, unit(601));
    // After every step of the update (the restart included): the whole transaction rolls back.
    const failed = await reconcileContainers(s.config({ inject: { [a]: [{ afterStep: 99, step: failingStep({ message: 'injected failure after the restart' }) }] } }));
    expect(failed.exitCode).toBe(1);
    expect(failed.items[0]).toMatchObject({ key: a, outcome: 'failed', action: 'update' });
    expect(failed.items[0]!.message).toMatch(/update failed at step 9 \(fail on purpose \(injected failure after the restart\)\).*rolled back/s);
    expect(fs.readFileSync(`${manager().unitDir}/${a}.service`, 'utf8')).toBe(unit(600));
    expect(await runs(a)).toBe('/bin/sleep 600');
  });
});
