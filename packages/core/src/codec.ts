import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { InvalidInputError, JournalDecodeError, type ErrorContext } from './errors.js';

/** Turns io-ts errors into one readable line per problem: `path.to.field: expected T, got V`. */
export function explainErrors(errors: t.Errors): string[] {
  return errors.slice(0, 10).map((error) => {
    const path = error.context.map((c) => c.key).filter(Boolean).join('.');
    const expected = error.context.at(-1)?.type.name ?? 'valid value';
    return error.message ?? `${path || '(root)'}: expected ${expected}, got ${JSON.stringify(error.value)?.slice(0, 80)}`;
  });
}

/** Decodes caller input; an {@link InvalidInputError} names every problem. */
export function decodeInput<A>(codec: t.Type<A, unknown, unknown>, value: unknown, what: string, context: ErrorContext = {}): A {
  const result = codec.decode(value);
  if (isLeft(result)) {
    const problems = explainErrors(result.left);
    throw new InvalidInputError(`${what}: ${problems.join('; ')}`, { ...context, problems });
  }
  return result.right;
}

/** Decodes a journaled value; a {@link JournalDecodeError} names the step type and field. */
export function decodeJournaled<A>(codec: t.Type<A, unknown, unknown>, value: unknown, what: string, context: ErrorContext): A {
  const result = codec.decode(value);
  if (isLeft(result)) {
    const problems = explainErrors(result.left);
    throw new JournalDecodeError(`${what} does not decode: ${problems.join('; ')}`, { ...context, problems });
  }
  return result.right;
}
