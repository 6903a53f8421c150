/**
 * A transient bus error — systemctl saying "Failed to connect to bus:
 * Transport endpoint is not connected", as it does when its connection (or
 * the `--machine=USER@` hop) drops under load — injected into the commands
 * that are safe to repeat: daemonReload's reload, installUnit's reload, and
 * the reads every step decides on (`systemctl show`, `systemctl is-enabled`).
 * Once, it is tried again and the transaction commits; lasting, it is tried
 * 5 times in all (4 retries, waits of 0.25, 0.5, 1 and 2 s), then the
 * transaction rolls back with the bus error and the unit is as before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type CommandRunner, type Step } from '@unwind/core';
import { daemonReload, enable, installUnit, start, type ManagerOptions } from '../src/index.js';
import { injectingExec, placeUnit, purgeUnit, sleeperUnit, snapshot, sysctl, uniqueUnit, userManager } from './fixture.js';

const BACKOFF_MS = 250 + 500 + 1000 + 2000;

function run(exec: CommandRunner, ...steps: Array<Step<any, any, any>>) { // eslint-disable-line @typescript-eslint/no-explicit-any
  const tx = transaction('systemd transient bus errors', { journal: memoryJournal(), handleSignals: false, exec, retry: { undo: { retries: 0 } } });
  for (const s of steps) tx.add(s);
  return tx.run();
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fresh unit, its state before, and a runner whose `verb` calls fail `times` in a row from the `nth`. */
async function arrange(verb: string, times: number, nth = 1) {
  const unit = uniqueUnit('inject-transient');
  cleanups.push(() => purgeUnit(unit));
  const injected = injectingExec({ verb, mode: 'transient', times, nth });
  cleanups.push(injected.cleanup);
  const calls = () => injected.calls.filter((argv) => argv.includes(verb)).length;
  return { unit, m: userManager(), exec: injected.exec, calls, initial: await snapshot(unit) };
}

const loadState = async (unit: string) => (await sysctl('show', '--property=LoadState', '--value', '--', unit)).trim();

describe('daemonReload: a transient bus error is tried again, a lasting one is not', () => {
  it('"Transport endpoint is not connected" once, then the reload works → committed on the second attempt, the unit loaded', async () => {
    const { unit, m, exec, calls } = await arrange('daemon-reload', 1);
    await placeUnit(unit, sleeperUnit(), m.unitDir!);
    const outcome = await run(exec, daemonReload(m));
    expect(outcome.status).toBe('committed');
    expect(outcome.steps[0]?.attempts).toBe(2);
    expect(calls()).toBe(2);
    expect(await loadState(unit)).toBe('loaded');
  });

  it('a bus that stays down: 5 attempts (4 retries with backoff), then rolled back with the bus error', async () => {
    const { unit, m, exec, calls } = await arrange('daemon-reload', 5);
    await placeUnit(unit, sleeperUnit(), m.unitDir!);
    const started = Date.now();
    const outcome = await run(exec, daemonReload(m));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.attempts).toBe(5);
    expect(outcome.steps[0]?.error?.context?.stderr).toMatch(/Transport endpoint is not connected/);
    expect(calls()).toBe(5 + 1); // then the undo's reload, not injected
    expect(Date.now() - started).toBeGreaterThanOrEqual(BACKOFF_MS);
  });
});

describe("installUnit: its reload's transient bus error is tried again (the whole do: the same bytes, then the reload)", () => {
  it('once → committed on the second attempt, the unit installed and loaded', async () => {
    const { unit, m, exec, calls } = await arrange('daemon-reload', 1);
    const outcome = await run(exec, installUnit({ ...m, unit, content: sleeperUnit() }));
    expect(outcome.status).toBe('committed');
    expect(outcome.steps[0]?.attempts).toBe(2);
    expect(calls()).toBe(2);
    expect(await loadState(unit)).toBe('loaded');
  });

  it('lasting → 5 attempts, then rolled back with the bus error: no unit file, the manager as before', async () => {
    const { unit, m, exec, calls, initial } = await arrange('daemon-reload', 5);
    const started = Date.now();
    const outcome = await run(exec, installUnit({ ...m, unit, content: sleeperUnit() }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.status).toBe('undone');
    expect(outcome.steps[0]?.attempts).toBe(5);
    expect(outcome.steps[0]?.error?.context?.stderr).toMatch(/Transport endpoint is not connected/);
    expect(calls()).toBe(5 + 1); // then the undo's reload, not injected
    expect(Date.now() - started).toBeGreaterThanOrEqual(BACKOFF_MS);
    expect(await snapshot(unit)).toEqual(initial);
  });
});

// The read fails inside a step's prepare, which the runner never retries: the read itself is tried again.
// `nth`: the first read of the step's prepare; `calls`: how many such reads the transaction makes with no failure.
const reads: Array<{ verb: string; name: string; then: (unit: string, m: ManagerOptions) => Step<any, any, any>; nth: number; calls: number }> = [ // eslint-disable-line @typescript-eslint/no-explicit-any
  // `show`: installUnit's verify, then start's prepare, then start's check after it settled.
  { verb: 'show', name: 'start reads its unit with `systemctl show`', then: (unit, m) => start({ ...m, unit, settleMs: 200 }), nth: 2, calls: 3 },
  // `is-enabled`: enable's prepare, then its verify.
  { verb: 'is-enabled', name: 'enable reads its unit with `systemctl is-enabled`', then: (unit, m) => enable({ ...m, unit }), nth: 1, calls: 2 },
];

describe("the reads steps decide on: a transient bus error is tried again, also in a prepare", () => {
  for (const read of reads) {
    it(`${read.name}: once → committed, the read made twice`, async () => {
      const { unit, m, exec, calls } = await arrange(read.verb, 1, read.nth);
      const outcome = await run(exec, installUnit({ ...m, unit, content: sleeperUnit() }), read.then(unit, m));
      expect(outcome.status).toBe('committed');
      expect(outcome.steps[1]?.attempts).toBe(1); // the step ran once; its read was tried again
      expect(calls()).toBe(read.calls + 1);
    });

    it(`${read.name}: lasting → 5 reads, then rolled back (the unit file installed before removed), with the bus error`, async () => {
      const { unit, m, exec, calls, initial } = await arrange(read.verb, 5, read.nth);
      const started = Date.now();
      const outcome = await run(exec, installUnit({ ...m, unit, content: sleeperUnit() }), read.then(unit, m));
      expect(outcome.status).toBe('rolled-back');
      expect(outcome.steps[0]?.status).toBe('undone');
      expect(outcome.steps[1]?.status).toBe('failed');
      expect(outcome.steps[1]?.error?.context?.stderr).toMatch(/Transport endpoint is not connected/);
      expect(calls()).toBe(read.nth - 1 + 5);
      expect(Date.now() - started).toBeGreaterThanOrEqual(BACKOFF_MS);
      expect(await snapshot(unit)).toEqual(initial);
    });
  }
});
