import type { SerializedError } from '../errors.js';
import type { Step } from '../step.js';
import type { StepReport, StepStatus } from './outcome.js';

type AnyStep = Step<unknown, unknown, unknown>;

/**
 * The report of a step that has ended (verified or failed), made whole, in
 * one literal: a report made before its step ran and completed afterwards
 * took its `durationMs` into a second object (a property store) per step,
 * which in a long transaction the garbage collector copied and marked with
 * the rest. The fields keep the order they always had: index, type,
 * description, status, attempts, label, error, durationMs.
 */
export function endedReport(index: number, step: AnyStep, description: string, status: StepStatus, attempts: number, durationMs: number, error?: SerializedError): StepReport {
  const type = step.kind.type;
  const label = step.options.label;
  if (error === undefined) {
    return label ? { index, type, description, status, attempts, label, durationMs } : { index, type, description, status, attempts, durationMs };
  }
  return label ? { index, type, description, status, attempts, label, error, durationMs } : { index, type, description, status, attempts, error, durationMs };
}

/** The report of a step the run never reached. */
export function unreachedReport(index: number, step: AnyStep, description: string): StepReport {
  const type = step.kind.type;
  const label = step.options.label;
  return label ? { index, type, description, status: 'not-started', attempts: 0, label } : { index, type, description, status: 'not-started', attempts: 0 };
}
