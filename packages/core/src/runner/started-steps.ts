import type { Step } from '../step.js';
import type { StartedStep } from './engine.js';
import type { StepReport } from './outcome.js';

type AnyStep = Step<unknown, unknown, unknown>;

/** A step's retry options when it gives none: one shared object, not one per step. */
export const NO_RETRY: StartedStep['retry'] = Object.freeze({});

/**
 * The steps a run has started (journaled), kept compactly: per finished
 * step only its `before`, and its arguments when they came from earlier
 * steps. Its kind, options, result and report the run keeps anyway; a
 * {@link StartedStep} object per step, which a rollback or the commit
 * actions need, is built only when one of them runs. One object per step
 * kept for the whole of a long transaction was one more for the garbage
 * collector to copy and mark at every collection (bench/core-scaling.mjs).
 * Only the step that failed, if any, is kept as it was when it stopped.
 */
export class StartedSteps {
  private readonly befores: unknown[] = [];
  /** Made for the first step whose arguments came from earlier steps: most transactions have none. */
  private computedArgs: Map<number, unknown> | undefined;
  private stopped: StartedStep | undefined;

  constructor(
    private readonly entries: readonly AnyStep[],
    private readonly results: readonly unknown[],
    private readonly reports: readonly StepReport[],
  ) {}

  /** How many steps started. */
  get count(): number {
    return this.befores.length + (this.stopped ? 1 : 0);
  }

  /** Step `index`, the next one, finished (verified); its result is in `results`, its report in `reports`. */
  finished(index: number, args: unknown, before: unknown): void {
    if (typeof this.entries[index]!.args === 'function') (this.computedArgs ??= new Map()).set(index, args);
    this.befores.push(before);
  }

  /** The next step started and failed: kept whole, for its undo. */
  failed(step: StartedStep): void {
    this.stopped = step;
  }

  /** Whether any started step's kind has a commit action. */
  anyCommitAction(): boolean {
    for (let index = 0; index < this.count; index++) if (this.entries[index]!.kind.definition.commit) return true;
    return false;
  }

  /** Every started step, oldest first. */
  all(): StartedStep[] {
    const steps: StartedStep[] = [];
    for (let index = 0; index < this.befores.length; index++) {
      const step = this.entries[index]!;
      const args = typeof step.args === 'function' ? this.computedArgs!.get(index) : step.args;
      steps.push({ index, kind: step.kind, args, before: this.befores[index], after: this.results[index], done: true, retry: step.options.retry ?? NO_RETRY, timeoutMs: step.options.timeoutMs, report: this.reports[index]! });
    }
    if (this.stopped) steps.push(this.stopped);
    return steps;
  }
}
