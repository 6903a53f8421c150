import { serializeError, type SerializedError } from '../errors.js';
import type { CommandRunner } from '../exec.js';
import { MemoryBlobStore } from '../journal/blobs.js';
import { logger, type Logger } from '../log.js';
import { decodeInput } from '../codec.js';
import type { Step } from '../step.js';

const defaultLog = logger('plan');

/**
 * One line of a plan.
 *
 * @example
 * ```ts
 * for (const e of await tx.plan()) console.log(`${e.index + 1}. ${e.description}${e.wouldChange === false ? ' (no change)' : ''}`);
 * ```
 */
export interface PlanEntry {
  index: number;
  type: string;
  description: string;
  /** `true`/`false` when the kind can tell without changing anything; `undefined` when it cannot. */
  wouldChange: boolean | undefined;
  irreversible: boolean;
  /** The arguments are invalid (the run would be refused). */
  error?: SerializedError;
}

/**
 * A dry run: the ordered step descriptions, and whether each step would change
 * anything where its kind can say so. Nothing is touched: only read-only
 * `wouldChange` probes run, with a signal-free context and blobs in memory.
 */
export async function planSteps(steps: Step<unknown, unknown, unknown>[], exec: CommandRunner, log: Logger = defaultLog): Promise<PlanEntry[]> {
  const entries: PlanEntry[] = [];
  for (const [index, step] of steps.entries()) {
    const definition = step.kind.definition;
    const base = { index, type: step.kind.type, irreversible: definition.irreversible === true };
    if (typeof step.args === 'function') {
      entries.push({ ...base, description: `${step.kind.type} (arguments from earlier steps)`, wouldChange: undefined });
      continue;
    }
    try {
      const args = decodeInput(definition.args, step.args, `step ${index + 1} (${step.kind.type}) has invalid arguments`);
      definition.validate?.(args);
      const description = definition.describe(args);
      let wouldChange: boolean | undefined;
      if (definition.wouldChange) {
        wouldChange = await definition.wouldChange(args, {
          signal: new AbortController().signal,
          exec,
          log,
          blobs: new MemoryBlobStore(() => {
            throw new Error('plan() gives no blob directory');
          }),
          transactionId: 'plan',
          stepIndex: index,
          attempt: 1,
          phase: 'plan',
        });
      }
      entries.push({ ...base, description, wouldChange });
    } catch (error) {
      entries.push({ ...base, description: step.kind.type, wouldChange: undefined, error: serializeError(error) });
    }
  }
  return entries;
}
