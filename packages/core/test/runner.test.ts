import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { afterEach, describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import {
  defineStep, describeOutcome, exitCodeOf, fileJournal, listTransactionIds, memoryJournal, NonRetryableError, transaction,
  type TransactionEvent,
} from '@unwind/core';
import { failingStep, stagedRemove, treeState, writeMarker } from '@unwind/core/testing';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandbox() {
  const base = tempDir();
  cleanups.push(base.remove);
  const dir = join(base.path, 'sandbox');
  fs.mkdirSync(dir);
  fs.writeFileSync(join(dir, 'existing'), 'before\n');
  return { dir, root: join(base.path, 'journal') };
}

const phases = ['prepare', 'do', 'verify'] as const;

describe('failure injected at every step', () => {
  for (const phase of phases) {
    it(`fails in ${phase} of each of 5 steps in turn: every started step undone newest first, state as before`, async () => {
      for (let failing = 0; failing < 5; failing++) {
        const { dir, root } = sandbox();
        const before = treeState(dir);
        const events: TransactionEvent[] = [];
        const tx = transaction('five steps', { journal: fileJournal({ root }), handleSignals: false, onEvent: (e) => events.push(e) });
        for (let i = 0; i < 5; i++) {
          const path = join(dir, i === 2 ? 'existing' : `file-${i}`);
          tx.add(writeMarker({ path, content: `content ${i}\n`, ...(i === failing ? { failIn: phase } : {}) }));
        }
        const outcome = await tx.run();
        expect(outcome.status).toBe('rolled-back');
        expect(exitCodeOf(outcome)).toBe(1);
        expect(treeState(dir), `${phase} of step ${failing}`).toEqual(before);
        // The failing step itself is undone too, unless it failed before `do` could start.
        const lastStarted = phase === 'prepare' ? failing - 1 : failing;
        const undone = events.filter((e) => e.type === 'undo:done').map((e) => (e as { step: number }).step);
        expect(undone).toEqual(Array.from({ length: lastStarted + 1 }, (_, i) => lastStarted - i));
        expect(outcome.steps[failing]?.error?.message).toContain('injected');
        expect(describeOutcome(outcome)).toMatch(/Rolled back \d+ steps?, newest first/);
      }
    });
  }

  it('a clean run commits, runs commit actions after the commit point, and removes the journal per retention', async () => {
    const { dir, root } = sandbox();
    fs.writeFileSync(join(dir, 'old.log'), 'x');
    const events: string[] = [];
    const tx = transaction('clean', { journal: fileJournal({ root, retention: 'remove' }), handleSignals: false, onEvent: (e) => events.push(e.type) });
    tx.add(writeMarker({ path: join(dir, 'a'), content: 'A' }));
    tx.add(stagedRemove({ path: join(dir, 'old.log') }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    expect(fs.readFileSync(join(dir, 'a'), 'utf8')).toBe('A');
    expect(fs.existsSync(join(dir, 'old.log.staged'))).toBe(false);
    expect(events.indexOf('commit-point')).toBeLessThan(events.indexOf('commit:done'));
    // Removed as a transaction: its directory is kept only as the one the next transaction reuses.
    expect(fs.readdirSync(root).filter((n) => !n.endsWith('.lock'))).toEqual(['.reusable']);
    expect(listTransactionIds(root)).toEqual([]);
  });
});

describe('arguments from earlier steps', () => {
  it('a later step reads an earlier result, resolved just before its prepare', async () => {
    const { dir } = sandbox();
    const tx = transaction('chain', { journal: memoryJournal(), handleSignals: false });
    const first = tx.add(writeMarker({ path: join(dir, 'first'), content: 'hello' }));
    tx.add(writeMarker((get) => ({ path: join(dir, 'second'), content: `bytes=${get(first).bytes}` })));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    expect(fs.readFileSync(join(dir, 'second'), 'utf8')).toBe('bytes=5');
    expect(outcome.steps[1]?.description).toBe(`write ${join(dir, 'second')}`);
  });

  it('invalid arguments computed at run time roll back what ran before', async () => {
    const { dir } = sandbox();
    const before = treeState(dir);
    const tx = transaction('chain', { journal: memoryJournal(), handleSignals: false });
    tx.add(writeMarker({ path: join(dir, 'first'), content: 'hello' }));
    tx.add(writeMarker(() => ({ path: 42 }) as never));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[1]?.error?.code).toBe('INVALID_INPUT');
    expect(treeState(dir)).toEqual(before);
  });
});

describe('retries, timeouts and cancellation', () => {
  it('retries do per the policy and reports the attempts; a non-retryable error is not retried', async () => {
    let calls = 0;
    const flaky = defineStep({
      type: 'test.flaky', args: t.type({ failures: t.number, fatal: t.boolean }), before: t.null,
      describe: () => 'flaky', prepare: async () => null,
      do: async (a) => {
        calls++;
        if (a.fatal) throw new NonRetryableError(new Error('fatal'));
        if (calls <= a.failures) throw new Error(`transient ${calls}`);
      },
      undo: async () => {},
    });
    const tx = transaction('retry', { journal: memoryJournal(), handleSignals: false });
    tx.add(flaky({ failures: 2, fatal: false }, { retry: { do: { retries: 3, minTimeout: 1 } } }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    expect(outcome.steps[0]?.attempts).toBe(3);
    calls = 0;
    const tx2 = transaction('no retry', { journal: memoryJournal(), handleSignals: false });
    tx2.add(flaky({ failures: 0, fatal: true }, { retry: { do: { retries: 3, minTimeout: 1 } } }));
    const outcome2 = await tx2.run();
    expect(outcome2.status).toBe('rolled-back');
    expect(calls).toBe(1);
  });

  it("a policy's retryOn picks which failures are tried again: the others fail the step at once, as they are", async () => {
    const thrown: string[] = [];
    const sometimes = defineStep({
      type: 'test.sometimes', args: t.type({ messages: t.array(t.string) }), before: t.null,
      describe: () => 'sometimes', prepare: async () => null,
      do: async (a) => {
        const message = a.messages[thrown.length];
        if (message === undefined) return;
        thrown.push(message);
        throw new Error(message);
      },
      undo: async () => {},
    });
    const policy = { retries: 3, minTimeout: 1, retryOn: (error: unknown) => (error as Error).message === 'passing' };
    const passes = transaction('passing failures', { journal: memoryJournal(), handleSignals: false });
    passes.add(sometimes({ messages: ['passing', 'passing'] }, { retry: { do: policy } }));
    const committed = await passes.run();
    expect(committed.status).toBe('committed');
    expect(committed.steps[0]?.attempts).toBe(3);
    thrown.length = 0;
    const lasting = transaction('a lasting failure', { journal: memoryJournal(), handleSignals: false });
    lasting.add(sometimes({ messages: ['passing', 'lasting', 'passing'] }, { retry: { do: policy } }));
    const rolledBack = await lasting.run();
    expect(rolledBack.status).toBe('rolled-back');
    expect(thrown).toEqual(['passing', 'lasting']);
    expect(rolledBack.steps[0]?.error?.message).toBe('lasting');
  });

  it('a step past its timeout is cancelled through its signal and rolled back', async () => {
    let sawAbort = false;
    const slow = defineStep({
      type: 'test.slow', args: t.type({}), before: t.null, describe: () => 'slow', prepare: async () => null,
      do: (_a, _b, ctx) => new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => { sawAbort = true; reject(ctx.signal.reason); })),
      undo: async () => {},
    });
    const { dir } = sandbox();
    const before = treeState(dir);
    const tx = transaction('timeout', { journal: memoryJournal(), handleSignals: false });
    tx.add(writeMarker({ path: join(dir, 'a'), content: 'A' }));
    tx.add(slow({}, { timeoutMs: 50 }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(sawAbort).toBe(true);
    expect(outcome.steps[1]?.error?.code).toBe('STEP_TIMEOUT');
    expect(treeState(dir)).toEqual(before);
  });

  it('a step that ignores its signal is abandoned after the grace period and the rollback still runs', async () => {
    const deaf = defineStep({
      type: 'test.deaf', args: t.type({}), before: t.null, describe: () => 'deaf', prepare: async () => null,
      do: () => new Promise<void>(() => {}), undo: async () => {},
    });
    const tx = transaction('deaf', { journal: memoryJournal(), handleSignals: false, abortGraceMs: 20 });
    tx.add(deaf({}, { timeoutMs: 20 }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[0]?.status).toBe('undone');
  });

  it('an abort signal from the caller rolls back', async () => {
    const controller = new AbortController();
    const { dir } = sandbox();
    const before = treeState(dir);
    const tx = transaction('abort', { journal: memoryJournal(), handleSignals: false, signal: controller.signal });
    tx.add(writeMarker({ path: join(dir, 'a'), content: 'A' }));
    tx.add(defineStep({ type: 'test.abortHere', args: t.type({}), before: t.null, describe: () => 'abort', prepare: async () => null, do: async () => controller.abort(), undo: async () => {} })({}));
    tx.add(writeMarker({ path: join(dir, 'b'), content: 'B' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    if (outcome.status === 'rolled-back') expect(outcome.cause.code).toBe('ABORTED');
    expect(fs.existsSync(join(dir, 'b'))).toBe(false);
    expect(treeState(dir)).toEqual(before);
  });
});

describe('undo failures', () => {
  it('an undo that keeps failing gives rollback-failed, keeps the journal, and says exactly what is left and how to resume', async () => {
    const { dir, root } = sandbox();
    const tx = transaction('stuck', { journal: fileJournal({ root }), handleSignals: false, retry: { undo: { retries: 1, minTimeout: 1 } } });
    tx.add(writeMarker({ path: join(dir, 'a'), content: 'A' }));
    tx.add(writeMarker({ path: join(dir, 'b'), content: 'B', failIn: 'undo' }));
    tx.add(writeMarker({ path: join(dir, 'c'), content: 'C' }));
    tx.add(failingStep({ message: 'boom' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rollback-failed');
    expect(exitCodeOf(outcome)).toBe(2);
    if (outcome.status !== 'rollback-failed') return;
    expect(outcome.remaining).toEqual([1, 0]);
    expect(outcome.steps[2]?.status).toBe('undone');
    expect(outcome.steps[1]?.undo?.attempts).toBe(2);
    expect(outcome.resume).toContain(`unwind recover --root ${root}`);
    expect(fs.existsSync(outcome.journalPath!)).toBe(true);
    expect(describeOutcome(outcome)).toContain('Not yet undone: step 2');
  });
});

describe('finally actions, irreversible steps, plan, TaskEither', () => {
  it('finally actions run on every outcome; their errors are reported, never change the status', async () => {
    const seen: string[] = [];
    for (const fail of [false, true]) {
      const tx = transaction('finally', { journal: memoryJournal(), handleSignals: false });
      if (fail) tx.add(failingStep({ message: 'x' }));
      tx.finally((o) => { seen.push(o.status); });
      tx.finally(() => { throw new Error('cleanup failed'); });
      const outcome = await tx.run();
      expect(outcome.finallyErrors[0]?.message).toBe('cleanup failed');
    }
    expect(seen).toEqual(['committed', 'rolled-back']);
  });

  it('an irreversible step anywhere but last is refused before anything runs, unless allowed', async () => {
    const { dir } = sandbox();
    const burn = defineStep({ type: 'test.burn', irreversible: true, args: t.type({}), before: t.null, describe: () => 'burn', prepare: async () => null, do: async () => {}, undo: async () => {} });
    const tx = transaction('irreversible', { journal: memoryJournal(), handleSignals: false });
    tx.add(burn({}));
    tx.add(writeMarker({ path: join(dir, 'a'), content: 'A' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('refused');
    expect(exitCodeOf(outcome)).toBe(4);
    expect(fs.existsSync(join(dir, 'a'))).toBe(false);
    const allowed = transaction('irreversible', { journal: memoryJournal(), handleSignals: false, allowIrreversible: true });
    allowed.add(burn({}));
    allowed.add(writeMarker({ path: join(dir, 'a'), content: 'A' }));
    expect((await allowed.run()).status).toBe('committed');
  });

  it('plan() lists the steps and whether each would change anything, touching nothing', async () => {
    const { dir } = sandbox();
    const before = treeState(dir);
    const probe = defineStep({
      type: 'test.probe', args: t.type({ path: t.string }), before: t.null, describe: (a) => `ensure ${a.path}`,
      prepare: async () => null, do: async () => {}, undo: async () => {},
      wouldChange: async (a) => !fs.existsSync(a.path),
    });
    const tx = transaction('plan', { journal: memoryJournal() });
    tx.add(probe({ path: join(dir, 'existing') }));
    tx.add(probe({ path: join(dir, 'missing') }));
    tx.add(writeMarker({ path: join(dir, 'x'), content: 'x' }));
    tx.add(writeMarker({ path: 7 } as never));
    const plan = await tx.plan();
    expect(plan.map((p) => [p.description, p.wouldChange])).toEqual([
      [`ensure ${join(dir, 'existing')}`, false],
      [`ensure ${join(dir, 'missing')}`, true],
      [`write ${join(dir, 'x')}`, undefined],
      ['test.writeMarker', undefined],
    ]);
    expect(plan[3]?.error?.code).toBe('INVALID_INPUT');
    expect(treeState(dir)).toEqual(before);
  });

  it('runTask() is Right for a commit and Left for anything else', async () => {
    const ok = transaction('ok', { journal: memoryJournal(), handleSignals: false });
    ok.add(writeMarker({ path: join(sandbox().dir, 'a'), content: 'a' }));
    expect(E.isRight(await ok.runTask()())).toBe(true);
    const bad = transaction('bad', { journal: memoryJournal(), handleSignals: false });
    bad.add(failingStep({ message: 'no' }));
    const result = await bad.runTask()();
    expect(E.isLeft(result) && result.left.status).toBe('rolled-back');
  });

  it('a listener that throws never breaks the transaction', async () => {
    const tx = transaction('listener', { journal: memoryJournal(), handleSignals: false, onEvent: () => { throw new Error('bad listener'); } });
    tx.add(writeMarker({ path: join(sandbox().dir, 'a'), content: 'a' }));
    expect((await tx.run()).status).toBe('committed');
  });
});
