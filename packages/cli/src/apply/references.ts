import { UnwindError } from '@unwind/core';
import { pointerOf } from './problems.js';

/**
 * The key of a reference to an earlier step's result: `{ "$result": "ID.field" }`
 * (or `"ID"` for the whole result). It stands for an argument value, as
 * `(get) => get(handle).field` does in the TypeScript API (`ArgsFrom`).
 *
 * @example
 * ```ts
 * const args = { path: '/etc/app.conf', content: '', gid: { [REFERENCE_KEY]: 'group.gid' } };
 * ```
 */
export const REFERENCE_KEY = '$result';

/**
 * A reference found in a step's arguments.
 *
 * @example
 * ```ts
 * const r: Reference = { pointer: '/steps/2/args/gid', text: 'group.gid', step: 'group', path: ['gid'] };
 * ```
 */
export interface Reference {
  /** Where it is in the file. */
  pointer: string;
  /** As written: `ID.field.subfield`. */
  text: string;
  /** The `id` of the step whose result it reads. */
  step: string;
  /** The fields read from that result (empty: the whole result). */
  path: string[];
}

/**
 * Whether a value is a reference object: exactly one key, `$result`, holding a string.
 *
 * @example
 * ```ts
 * isReference({ $result: 'user.home' }); // true
 * ```
 */
export function isReference(value: unknown): value is { [REFERENCE_KEY]: string } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && typeof (value as Record<string, unknown>)[REFERENCE_KEY] === 'string';
}

/**
 * Every reference in `args` (found at any depth), with its pointer below `at`.
 *
 * @example
 * ```ts
 * findReferences({ gid: { $result: 'group.gid' } }, ['steps', 2, 'args']); // [{ pointer: '/steps/2/args/gid', step: 'group', path: ['gid'], ... }]
 * ```
 */
export function findReferences(args: unknown, at: ReadonlyArray<string | number>): Reference[] {
  if (isReference(args)) {
    const text = args[REFERENCE_KEY];
    const [step = '', ...path] = text.split('.');
    return [{ pointer: pointerOf(at), text, step, path }];
  }
  if (Array.isArray(args)) return args.flatMap((item, index) => findReferences(item, [...at, index]));
  if (typeof args === 'object' && args !== null) return Object.entries(args).flatMap(([key, value]) => findReferences(value, [...at, key]));
  return [];
}

/**
 * A reference whose value does not exist when the step is about to run
 * (a field the earlier step's result does not have).
 *
 * @example
 * ```ts
 * if (error instanceof UnresolvedReferenceError) console.error(error.context.reference);
 * ```
 */
export class UnresolvedReferenceError extends UnwindError {
  constructor(reference: string, reason: string) {
    super('UNRESOLVED_REFERENCE', `{ "${REFERENCE_KEY}": "${reference}" }: ${reason}`, { context: { reference } });
  }
}

/**
 * A copy of `args` with every reference replaced by the value it names;
 * `resultOf(id)` returns the result of the earlier step with that id.
 *
 * @example
 * ```ts
 * resolveReferences({ gid: { $result: 'group.gid' } }, () => ({ gid: 991 })); // { gid: 991 }
 * ```
 */
export function resolveReferences(args: unknown, resultOf: (step: string) => unknown): unknown {
  if (isReference(args)) {
    const text = args[REFERENCE_KEY];
    const [step = '', ...path] = text.split('.');
    let value = resultOf(step);
    for (const field of path) {
      if (typeof value !== 'object' || value === null || !Object.hasOwn(value, field)) throw new UnresolvedReferenceError(text, `the result of step "${step}" has no field "${field}"`);
      value = (value as Record<string, unknown>)[field];
    }
    return value;
  }
  if (Array.isArray(args)) return args.map((item) => resolveReferences(item, resultOf));
  if (typeof args === 'object' && args !== null) return Object.fromEntries(Object.entries(args).map(([key, value]) => [key, resolveReferences(value, resultOf)]));
  return args;
}
