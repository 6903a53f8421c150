import { UnwindError } from '@unwind/core';
import type { Problem } from './validate.js';

/**
 * The desired state has problems; the run refused before changing anything.
 * `problems` lists every one of them.
 *
 * @example
 * ```ts
 * throw new ReconcileInputError([{ key: 'web', message: 'unit file is empty' }]);
 * ```
 */
export class ReconcileInputError extends UnwindError {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[]) {
    super('RECONCILE_INVALID_INPUT', `the desired state has ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was changed:\n${problems.map((p) => `  - ${p.key ? `${p.key}: ` : ''}${p.message}`).join('\n')}`, {
      context: { problems: problems.map((p) => ({ ...p })) },
    });
    this.problems = problems;
  }
}

/**
 * A desired item exists but does not carry the ownership marker: it is
 * someone else's, and the reconciler never adopts it.
 *
 * @example
 * ```ts
 * // ItemConflictError: "alice" exists but does not carry the ownership marker; it is not adopted
 * ```
 */
export class ItemConflictError extends UnwindError {
  constructor(key: string) {
    super('RECONCILE_CONFLICT', `"${key}" exists but does not carry the ownership marker; it is not adopted or changed`, { context: { key } });
  }
}
