import { describe, expect, it } from 'vitest';
import { defineStep, memoryJournal, t, transaction } from '../src/index.js';
import { noopStep } from '../src/testing/index.js';

// A transaction of quick steps awaits only promises that are already settled
// (journal writes are synchronous): the runner must still give the event loop
// back between steps, or the embedding program's timers and signal handlers
// wait for the whole run.
describe('the event loop during a long transaction', () => {
  it('runs a 1 ms timer while 20,000 quick steps run and roll back', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const tx = transaction('many quick steps', { journal: memoryJournal(), handleSignals: false });
    for (let i = 0; i < 20_000; i++) tx.add(noopStep({}));
    let ticksWhenRollingBack = 0;
    const failHere = defineStep({
      type: 'test.failHere',
      package: '@unwind/core/testing',
      args: t.type({}),
      before: t.null,
      describe: () => 'fail here',
      prepare: async () => null,
      do: async () => {
        ticksWhenRollingBack = ticks;
        throw new Error('roll back now');
      },
      undo: async () => {},
    });
    tx.add(failHere({}));
    const started = performance.now();
    const outcome = await tx.run();
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(outcome.status).toBe('rolled-back');
    expect(elapsed).toBeGreaterThan(50); // long enough that a held loop would show
    expect(ticksWhenRollingBack).toBeGreaterThan(0); // ticks during the forward steps
    expect(ticks).toBeGreaterThan(ticksWhenRollingBack); // and during the rollback
  }, 60_000);

  it('runs a 1 ms timer while the arguments of every step are checked, before the first step starts (each step is described when reached)', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    // Slow to describe and to check (about 0.2 ms each), as a kind with a costly describe or validate is.
    const busy = () => {
      const until = performance.now() + 0.2;
      while (performance.now() < until);
    };
    const slowToCheck = defineStep({
      type: 'test.slowToCheck',
      package: '@unwind/core/testing',
      args: t.type({}),
      before: t.null,
      describe: () => {
        busy();
        return 'slow to describe';
      },
      validate: () => busy(),
      prepare: async () => null,
      do: async () => {},
      undo: async () => {},
    });
    let ticksAtFirstStep: number | undefined;
    const tx = transaction('slow to check', { journal: memoryJournal(), handleSignals: false, onEvent: (event) => {
      if (event.type === 'step:prepare' && event.step === 0) ticksAtFirstStep = ticks;
    } });
    for (let i = 0; i < 1_000; i++) tx.add(slowToCheck({}));
    const outcome = await tx.run();
    clearInterval(timer);
    expect(outcome.status).toBe('committed');
    // About 200 ms of checking before the first step: a held loop would show 0 ticks.
    expect(ticksAtFirstStep).toBeGreaterThan(5);
  }, 60_000);
});
