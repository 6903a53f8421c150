import * as t from 'io-ts';
import { InvalidInputError, JournalDecodeError, type ErrorContext } from './errors.js';

/**
 * Turns io-ts errors into one readable line per problem: `path.to.field: expected T, got V`.
 *
 * @example
 * ```ts
 * const result = t.type({ port: t.number }).decode({ port: '80' });
 * if (result._tag === 'Left') console.error(explainErrors(result.left)); // ['port: expected number, got "80"']
 * ```
 */
export function explainErrors(errors: t.Errors): string[] {
  return errors.slice(0, 10).map((error) => {
    const path = error.context.map((c) => c.key).filter(Boolean).join('.');
    const expected = error.context.at(-1)?.type.name ?? 'valid value';
    return error.message ?? `${path || '(root)'}: expected ${expected}, got ${JSON.stringify(error.value)?.slice(0, 80)}`;
  });
}

/**
 * Decodes caller input; an {@link InvalidInputError} names every problem.
 *
 * @example
 * ```ts
 * const args = decodeInput(writeFile.definition.args, JSON.parse(text), 'writeFile arguments');
 * ```
 */
export function decodeInput<A>(codec: t.Type<A, unknown, unknown>, value: unknown, what: string, context: ErrorContext = {}): A {
  const result = codec.decode(value);
  // A local check rather than fp-ts's isLeft: core loads no fp-ts module of its own.
  if (result._tag === 'Left') {
    const problems = explainErrors(result.left);
    throw new InvalidInputError(`${what}: ${problems.join('; ')}`, { ...context, problems });
  }
  return result.right;
}

/**
 * Decodes a journaled value; a {@link JournalDecodeError} names the step type and field.
 *
 * @example
 * ```ts
 * // s: a JournaledStep of analyzeRecords(records).steps
 * const before = decodeJournaled(kind.definition.before, s.before, `${s.type} before-state of step ${s.index + 1}`, { type: s.type, step: s.index });
 * ```
 */
export function decodeJournaled<A>(codec: t.Type<A, unknown, unknown>, value: unknown, what: string, context: ErrorContext): A {
  const result = codec.decode(value);
  if (result._tag === 'Left') {
    const problems = explainErrors(result.left);
    throw new JournalDecodeError(`${what} does not decode: ${problems.join('; ')}`, { ...context, problems });
  }
  return result.right;
}
