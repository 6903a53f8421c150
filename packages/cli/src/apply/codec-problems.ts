import type { t } from '@unwind/core';
import { nodeOf, objectShape, unwrap, type CodecNode } from './codec-shape.js';
import { pointerOf, type Problem } from './problems.js';

/** Codecs whose context keys are positions in the value (not members of a union or intersection). */
const CONTAINERS = new Set(['InterfaceType', 'PartialType', 'StrictType', 'ArrayType', 'ReadonlyArrayType', 'DictionaryType', 'TupleType']);

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return String(value); // JSON would say null for NaN and Infinity
  return (JSON.stringify(value) ?? String(value)).slice(0, 80);
}

/**
 * Decodes `value` with `codec` and returns one problem per wrong location
 * (io-ts reports a union's failure once per member; they are one mistake),
 * with JSON pointers below `at`, plus every property no codec knows (a typo
 * such as `mdoe` would otherwise be silently ignored). The codec does not
 * check values at or below `skip` pointers (references, resolved at run
 * time); an unknown property is reported unless it is strictly below one, so
 * a misspelled key holding a reference (`gdi: { $result: … }`) is one.
 *
 * @example
 * ```ts
 * codecProblems(writeFile.definition.args, { path: 42 }, ['steps', 0, 'args']);
 * // [{ pointer: '/steps/0/args/path', message: 'expected string, got 42' }, { pointer: '/steps/0/args/content', ... }]
 * ```
 */
export function codecProblems(codec: t.Type<unknown, unknown, unknown> | t.Mixed, value: unknown, at: ReadonlyArray<string | number>, skip: readonly string[] = []): Problem[] {
  // A reference's own value is resolved at run time: neither it nor anything below it is the codec's to judge.
  const skipped = (pointer: string) => skip.some((s) => pointer === s || pointer.startsWith(`${s}/`));
  // But the key holding it is the file's: only what is inside a reference ($result) is not a property.
  const inside = (pointer: string) => skip.some((s) => pointer.startsWith(`${s}/`));
  const byPointer = new Map<string, Problem>();
  const result = codec.decode(value);
  if (result._tag === 'Left') {
    for (const error of result.left) {
      const path: string[] = [];
      // The outermost codec at the failing location names what was expected: a union's name, not one member's.
      let expected: string | undefined = error.context[0]?.type.name;
      for (let i = 1; i < error.context.length; i++) {
        const parent = error.context[i - 1]!.type as unknown as CodecNode;
        if (CONTAINERS.has(parent._tag ?? '')) {
          path.push(error.context[i]!.key);
          expected = error.context[i]!.type.name;
        }
      }
      const pointer = pointerOf([...at, ...path]);
      if (skipped(pointer) || byPointer.has(pointer)) continue;
      const message = error.message ?? (error.value === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${show(error.value)}`);
      byPointer.set(pointer, { pointer, message });
    }
  }
  const problems = [...byPointer.values()];
  for (const problem of unknownProperties(nodeOf(codec), value, [...at])) if (!inside(problem.pointer) && !byPointer.has(problem.pointer)) problems.push(problem);
  return problems;
}

/** Properties of `value` that its object codec does not declare, recursively. */
function unknownProperties(node: CodecNode, value: unknown, at: Array<string | number>): Problem[] {
  const inner = unwrap(node);
  if (inner._tag === 'UnionType') {
    const member = (inner.types ?? []).find((m) => m.is(value));
    return member ? unknownProperties(member, value, at) : [];
  }
  if ((inner._tag === 'ArrayType' || inner._tag === 'ReadonlyArrayType') && Array.isArray(value) && inner.type) {
    return value.flatMap((item, index) => unknownProperties(inner.type!, item, [...at, index]));
  }
  const shape = objectShape(inner);
  if (!shape || typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const problems: Problem[] = [];
  for (const [key, item] of Object.entries(value)) {
    const property = shape.props.get(key);
    if (!property) {
      const known = [...shape.props.keys()];
      problems.push({ pointer: pointerOf([...at, key]), message: `unknown property "${key}"${known.length ? ` (known: ${known.join(', ')})` : ''}` });
    } else problems.push(...unknownProperties(property, item, [...at, key]));
  }
  return problems;
}
