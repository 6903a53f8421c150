import { decodeInput, validateName } from '@unwind/core';
import type { AnyStep } from './types.js';
import { protectionOf } from './diff.js';

/**
 * One thing wrong with the input. Every problem is collected before the run
 * refuses, so the operator fixes them all in one go.
 *
 * @example
 * ```ts
 * const p: Problem = { key: 'web', message: 'unit file is empty' };
 * ```
 */
export interface Problem {
  /** The item the problem is about; absent for problems of the whole input. */
  key?: string;
  message: string;
}

/**
 * How {@link validateDesired} checks items.
 *
 * @example
 * ```ts
 * const rules: ValidationRules<Item> = { key: (i) => i.name, validate: (i) => (i.body ? [] : ['empty body']) };
 * ```
 */
export interface ValidationRules<D> {
  /** The key of a desired item: unique; items run in the sorted order of their keys. */
  key: (item: D) => string;
  /** Checks a key (default: core's `validateName`: no spaces, no leading dash, no `/`). Throw to refuse. */
  validateKey?: (key: string) => void;
  /** Problems of one item: return messages, or throw (the error's message is collected). */
  validate?: (item: D) => readonly string[] | void;
  /** A desired key that is protected is refused: the input must not ask to manage it. */
  protect?: (key: string) => boolean | string;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Checks every desired item and returns every problem found (empty when the
 * input is fine): bad or duplicate keys, protected keys, and what the
 * caller's `validate` reports. Nothing is touched.
 *
 * @example
 * ```ts
 * const problems = validateDesired(items, { key: (i) => i.name, protect: (k) => k === 'root' });
 * if (problems.length) throw new ReconcileInputError(problems);
 * ```
 */
export function validateDesired<D>(desired: readonly D[], rules: ValidationRules<D>): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  const checkKey = rules.validateKey ?? ((k: string) => void validateName(k, { what: 'key' }));
  desired.forEach((item, index) => {
    let key: string;
    try {
      key = rules.key(item);
      checkKey(key);
    } catch (error) {
      problems.push({ message: `item ${index + 1}: ${messageOf(error)}` });
      return;
    }
    if (seen.has(key)) problems.push({ key, message: `"${key}" is desired more than once` });
    seen.add(key);
    const reason = protectionOf(rules, key);
    if (reason) problems.push({ key, message: `"${key}" is protected (${reason}); it is never managed, whatever the input says` });
    try {
      for (const message of rules.validate?.(item) ?? []) problems.push({ key, message });
    } catch (error) {
      problems.push({ key, message: messageOf(error) });
    }
  });
  return problems;
}

/**
 * Checks the arguments of an item's planned steps the way the transaction
 * runner will (codec, then the kind's `validate` hook), so a bad argument of
 * the last item refuses the run before the first item changes anything.
 * Steps whose arguments come from earlier steps can only be checked when
 * they run.
 *
 * @example
 * ```ts
 * const problems = validateSteps('web', [ensureUser({ name: 'web' }), installUnit({ unit: 'web.service', content })]);
 * ```
 */
export function validateSteps(key: string, steps: readonly AnyStep[]): Problem[] {
  const problems: Problem[] = [];
  steps.forEach((step, index) => {
    if (typeof step.args === 'function') return;
    try {
      const decoded = decodeInput(step.kind.definition.args, step.args, `step ${index + 1} (${step.kind.type}) has invalid arguments`, { step: index, type: step.kind.type });
      step.kind.definition.validate?.(decoded);
    } catch (error) {
      problems.push({ key, message: `step ${index + 1} (${step.kind.type}): ${messageOf(error)}` });
    }
  });
  return problems;
}
