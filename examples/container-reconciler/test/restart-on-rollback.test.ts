// containers.restartOnRollback on the real user manager: core's conformance suite (its do changes
// nothing), and its undo on its own — a unit started again since the step's prepare is restarted
// (another InvocationID again), a unit never restarted is left alone.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { conformanceSuite, requireHere, testContext } from '@unwind/core/testing';
import { unitProperties, unitState } from '@unwind/systemd';
import { restartOnRollback } from '../src/restart-on-rollback.js';
import { manager, names, skipReason, sleeper, sysctl } from './helpers.js';

const skip = skipReason();

/** A running sleeper unit of this test on the worker's user manager, and its clean-up. */
async function runningUnit() {
  requireHere(skip, 'root and a systemd user manager');
  const m = manager();
  const [name] = names('rr') as [string];
  const unit = `${name}.service`;
  fs.mkdirSync(m.unitDir, { recursive: true });
  fs.writeFileSync(join(m.unitDir, unit), sleeper(name));
  await sysctl('daemon-reload');
  await sysctl('start', '--', unit);
  const cleanup = async () => {
    await sysctl('stop', '--', unit);
    fs.rmSync(join(m.unitDir, unit), { force: true });
    await sysctl('daemon-reload');
  };
  return { m, unit, cleanup, invocation: async () => (await unitProperties(unit, ['InvocationID'], 'user', m)).InvocationID };
}

conformanceSuite(restartOnRollback, {
  setup: async () => {
    const { m, unit, cleanup } = await runningUnit();
    return {
      args: { unit, ...m, commandTimeoutMs: 15_000 },
      state: async () => ({ unit: await unitState(unit, 'user', m), invocation: (await unitProperties(unit, ['InvocationID'], 'user', m)).InvocationID }),
      cleanup,
      unchanged: 'its do changes nothing; only its undo acts, after the later steps of a transaction',
    };
  },
});

describe('containers.restartOnRollback: its undo', () => {
  it('restarts a unit started again since its prepare, and leaves one that was not alone', async () => {
    const { m, unit, cleanup, invocation } = await runningUnit();
    const { ctx, dispose } = testContext();
    try {
      const args = { unit, ...m, commandTimeoutMs: 15_000 };
      const d = restartOnRollback.definition;
      const before = await d.prepare(args, ctx);
      expect(before.invocationId).toBe(await invocation());
      await d.undo(args, before, undefined, ctx);
      expect(await invocation(), 'never restarted: left alone').toBe(before.invocationId);
      await sysctl('restart', '--', unit);
      const restarted = await invocation();
      expect(restarted).not.toBe(before.invocationId);
      await d.undo(args, before, undefined, ctx);
      const again = await invocation();
      expect(again, 'restarted by the undo').not.toBe(restarted);
      expect(again).not.toBe(before.invocationId);
      expect((await unitState(unit, 'user', m)).activeState).toBe('active');
    } finally {
      dispose();
      await cleanup();
    }
  });
});
