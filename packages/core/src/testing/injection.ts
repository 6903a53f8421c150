/**
 * How a program built on unwind lets its tests put a step between its own
 * steps (a failure after phase N, a SIGKILL at a journal record) without the
 * program knowing what the step is. The examples' programs take these hooks
 * as options; the tests and `--fail-after` demos fill them in.
 */
import type { JournalRecord } from '../journal/records.js';
import type { Transaction } from '../runner/transaction.js';
import type { AnyStepKind, Step, StepHandle } from '../step.js';

/**
 * A step a test puts in after the program's first `afterStep` steps (0:
 * before the first; the program's step count or more: after the last).
 *
 * @example
 * ```ts
 * const injection: StepInjection = { afterStep: 2, step: failingStep({ message: 'fails after phase 2' }) };
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface StepInjection { readonly afterStep: number; readonly step: Step<any, any, any> }

/**
 * The test-only options a program passes through: steps to put in, the kinds
 * of those steps (so recovery can read their records), and a call after each
 * journal record (crash tests SIGKILL there).
 *
 * @example
 * ```ts
 * interface InstallOptions extends TestHooks { name: string }
 * ```
 */
export interface TestHooks {
  /** Test only: steps put in between the program's own. */
  inject?: readonly StepInjection[];
  /** Test only: the kinds the injected steps use, so recovery can read their journal records. */
  extraKinds?: readonly AnyStepKind[];
  /** Test only: called after each journal record is durable. */
  afterAppend?: (record: JournalRecord) => void;
}

/**
 * Adds the program's `steps` to `tx` in order with `inject`'s steps put in
 * where they ask, and returns the handles of the program's own steps (index
 * for index), so the program can still read their results.
 *
 * @example
 * ```ts
 * const [group] = addSteps(tx, [ensureGroup({ name: 'app' }), writeFile(...)], options.inject);
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function addSteps(tx: Transaction, steps: ReadonlyArray<Step<any, any, any>>, inject: readonly StepInjection[] = []): Array<StepHandle<unknown>> {
  const handles: Array<StepHandle<unknown>> = [];
  for (let index = 0; index <= steps.length; index++) {
    for (const extra of inject) if (extra.afterStep === index || (index === steps.length && extra.afterStep > index)) tx.add(extra.step);
    if (index < steps.length) handles.push(tx.add(steps[index]!));
  }
  return handles;
}
