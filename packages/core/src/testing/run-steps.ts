/**
 * A transaction of the given steps on a memory journal, without signal
 * handlers (the test runner owns the process's signals): the shortest way for
 * a test to see a kind's outcome when the journal on disk is not the subject.
 */
import type { Outcome } from '../runner/outcome.js';
import type { Step } from '../step.js';
import { memoryJournal } from '../journal/memory-journal.js';
import { transaction } from '../runner/transaction.js';

/**
 * Runs `steps` in order as one transaction named `name` on a memory journal
 * and returns its outcome (a rollback is an outcome, not a throw).
 *
 * @example
 * ```ts
 * const outcome = await runSteps('linger scenario', enableLinger({ user: 'alice' }), failingStep({ message: 'later' }));
 * expect(outcome.status).toBe('rolled-back');
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function runSteps(name: string, ...steps: Array<Step<any, any, any>>): Promise<Outcome> {
  const run = transaction(name, { journal: memoryJournal(), handleSignals: false });
  for (const step of steps) run.add(step);
  return run.run();
}
