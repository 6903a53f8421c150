import type { CommandRunner } from '../exec.js';
import { memoryJournal } from '../journal/memory-journal.js';
import { transaction } from '../runner/transaction.js';
import type { StepContext, StepKind } from '../step.js';
import { testContext } from './context.js';
import { requireHere } from './environment.js';
import { seededRandom } from './crash-states/states.js';
import { interruptAfter } from './interrupt.js';
import { failingStep } from './kinds.js';
import { runningVitest } from './running-vitest.js';

/**
 * One sandbox for one conformance check.
 *
 * @example
 * ```ts
 * const dir = temporaryDirectory();
 * const sandbox: ConformanceSandbox<WriteFileArgs> = {
 *   args: { path: join(dir.path, 'a.conf'), content: 'new\n' },
 *   state: async () => treeState(dir.path),
 *   cleanup: async () => dir.remove(),
 * };
 * ```
 */
export interface ConformanceSandbox<A> {
  /** The step's arguments, aimed at this sandbox. */
  args: A;
  /** Everything the step may touch, read from the real system, as a comparable value. */
  state(): Promise<unknown>;
  /** Removes the sandbox. Called even when the check fails. */
  cleanup(): Promise<void>;
  /** Takes the change away behind the step's back (default: the step's own undo). */
  breakChange?(): Promise<void>;
  /** Leaves the sandbox as an interrupted `do` would (default: `do` under an aborted signal). */
  partialDo?(): Promise<void>;
  /** Why `do` changes nothing observable in this sandbox (e.g. the state is already what it asks); without it, a `do` that changes nothing fails the suite. */
  unchanged?: string;
}

/**
 * Options of {@link conformanceSuite}.
 *
 * @example
 * ```ts
 * const options: ConformanceOptions<WriteFileArgs> = { setup: async () => sandbox, cannotRun: process.getuid?.() === 0 ? false : 'not root' };
 * conformanceSuite(writeFile, options);
 * ```
 */
export interface ConformanceOptions<A> {
  /** Makes a fresh sandbox; called once per check. */
  setup(): Promise<ConformanceSandbox<A>>;
  /** The command runner given to the step (e.g. one with a prefix root). */
  exec?: CommandRunner;
  /**
   * Why the suite cannot run here (e.g. not root), or false. Every check then
   * fails with this reason: a suite that cannot run must not pass or be skipped.
   */
  cannotRun?: string | false;
  /** Extra time per check, in ms. */
  timeoutMs?: number;
}

/**
 * The contract every step kind must keep, as vitest tests:
 * prepare changes nothing; do then verify holds; undo restores the
 * before-state and is idempotent; do changes something observable (unless
 * the sandbox says why not); undo works after a partial do — stopped after
 * each of its mutating calls in turn — and with no `after`; verify fails when the change is missing; the journaled values
 * survive a JSON round-trip through their codecs; and inside a transaction a
 * later failure rolls the step back.
 *
 * @example
 * ```ts
 * conformanceSuite(writeFile, {
 *   setup: async () => {
 *     const dir = await fs.mkdtemp(join(tmpdir(), 'x-'));
 *     return { args: { path: join(dir, 'a'), content: 'hi' }, state: () => treeOf(dir), cleanup: () => fs.rm(dir, { recursive: true }) };
 *   },
 * });
 * ```
 */
export function conformanceSuite<A, B, R>(kind: StepKind<A, B, R>, options: ConformanceOptions<A>): void {
  const { describe, expect, it } = runningVitest('conformanceSuite');
  const d = kind.definition;
  const timeout = options.timeoutMs ?? 30_000;

  async function withSandbox(check: (sandbox: ConformanceSandbox<A>, ctx: StepContext) => Promise<void>): Promise<void> {
    requireHere(options.cannotRun ?? false, `the conformance suite of ${kind.type}`);
    const sandbox = await options.setup();
    const { ctx, dispose } = testContext(options.exec ? { exec: options.exec } : {});
    try {
      await check(sandbox, ctx);
    } finally {
      dispose();
      await sandbox.cleanup();
    }
  }

  describe(`conformance: ${kind.type}`, () => {
    it('prepare changes nothing', () => withSandbox(async (s, ctx) => {
      const before = await s.state();
      await d.prepare(s.args, ctx);
      expect(await s.state()).toEqual(before);
    }), timeout);

    it('do, then verify holds; undo restores the before-state; a second undo changes nothing', () => withSandbox(async (s, ctx) => {
      const initial = await s.state();
      const before = await d.prepare(s.args, ctx);
      const after = await d.do(s.args, before, ctx);
      if (d.verify) await d.verify(s.args, before, after, ctx);
      await d.undo(s.args, before, after, ctx);
      expect(await s.state()).toEqual(initial);
      if (d.verifyUndo) await d.verifyUndo(s.args, before, ctx);
      await d.undo(s.args, before, after, ctx);
      expect(await s.state()).toEqual(initial);
    }), timeout);

    it('undo with no `after`, when do never ran, leaves the before-state', () => withSandbox(async (s, ctx) => {
      const initial = await s.state();
      const before = await d.prepare(s.args, ctx);
      await d.undo(s.args, before, undefined, ctx);
      expect(await s.state()).toEqual(initial);
    }), timeout);

    it('undo after a partial do leaves the before-state', () => withSandbox(async (s, ctx) => {
      const initial = await s.state();
      const before = await d.prepare(s.args, ctx);
      if (s.partialDo) await s.partialDo();
      else {
        const aborted = new AbortController();
        aborted.abort(new Error('interrupted'));
        await d.do(s.args, before, { ...ctx, signal: aborted.signal }).catch(() => undefined);
      }
      await d.undo(s.args, before, undefined, ctx);
      expect(await s.state()).toEqual(initial);
    }), timeout);

    it('do changes something observable; undo after a do stopped after each of its mutating calls in turn leaves the before-state', async () => {
      let total = 0;
      await withSandbox(async (s, ctx) => {
        const initial = await s.state();
        const before = await d.prepare(s.args, ctx);
        const counter = interruptAfter(undefined);
        let after: R;
        try {
          after = await d.do(s.args, before, counter.context(ctx));
        } finally {
          counter.restore();
        }
        total = counter.count();
        if (s.unchanged === undefined) expect(await s.state(), `${kind.type}: do changed nothing observable`).not.toEqual(initial);
        await d.undo(s.args, before, after, ctx);
      });
      // Every stop point when there are few; else a seeded sample of 12, always with the first and the last.
      const seed = Number(process.env.UNWIND_KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const random = seededRandom(seed);
      const points = Array.from({ length: total }, (_, i) => i + 1).filter((n, i, all) => all.length <= 12 || n === 1 || n === total || random() < 10 / total);
      console.log(`conformance ${kind.type}: do makes ${total} mutating operations; stopping after ${points.length} of them (seed ${seed})`);
      for (const stop of points) {
        await withSandbox(async (s, ctx) => {
          const initial = await s.state();
          const before = await d.prepare(s.args, ctx);
          const counter = interruptAfter(stop);
          try {
            await d.do(s.args, before, counter.context(ctx));
          } catch {
            // the interruption, or what the do made of it
          } finally {
            counter.restore();
          }
          await d.undo(s.args, before, undefined, ctx);
          expect(await s.state(), `undo after a do stopped after operation ${stop} of ${total}`).toEqual(initial);
        });
      }
    }, timeout * 4);

    // Only kinds with a verify can be checked for it (a plain `if`, so nothing shows as skipped).
    if (d.verify !== undefined) it('verify fails when the change is missing', () => withSandbox(async (s, ctx) => {
      const before = await d.prepare(s.args, ctx);
      const after = await d.do(s.args, before, ctx);
      if (s.breakChange) await s.breakChange();
      else await d.undo(s.args, before, after, ctx);
      await expect(d.verify!(s.args, before, after, ctx)).rejects.toThrow();
    }), timeout);

    it('journaled values survive a JSON round-trip through the codecs', () => withSandbox(async (s, ctx) => {
      const roundTrip = <T>(codec: { encode(v: T): unknown; decode(v: unknown): unknown }, value: T) => codec.decode(JSON.parse(JSON.stringify(codec.encode(value)) ?? 'null'));
      const decoded = d.args.decode(s.args);
      expect(decoded._tag).toBe('Right');
      const args = (decoded as { right: A }).right;
      expect(roundTrip(d.args, args)).toEqual({ _tag: 'Right', right: args });
      const before = await d.prepare(s.args, ctx);
      expect(roundTrip(d.before, before)).toEqual({ _tag: 'Right', right: before });
      const after = await d.do(s.args, before, ctx);
      if (d.after) expect(roundTrip(d.after, after)).toEqual({ _tag: 'Right', right: after });
      await d.undo(s.args, before, after, ctx);
    }), timeout);

    it('in a transaction, a later failure rolls the step back', () => withSandbox(async (s) => {
      const initial = await s.state();
      const tx = transaction(`conformance ${kind.type}`, { journal: memoryJournal(), handleSignals: false, ...(options.exec ? { exec: options.exec } : {}) });
      tx.add(kind(s.args));
      tx.add(failingStep({ message: 'injected failure after the step' }));
      const outcome = await tx.run();
      expect(outcome.status).toBe('rolled-back');
      expect(outcome.steps[0]?.status).toBe('undone');
      expect(await s.state()).toEqual(initial);
    }), timeout);
  });
}
