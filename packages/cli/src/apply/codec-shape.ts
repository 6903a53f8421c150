import type { t } from '@unwind/core';

/**
 * An io-ts codec seen by its `_tag`: the shapes step kinds' argument codecs
 * are built from (type, partial, intersection, union, array, literal,
 * refinement, the primitives). Read without importing io-ts at run time.
 *
 * @example
 * ```ts
 * const codec = writeFile.definition.args as unknown as CodecNode;
 * codec._tag; // 'IntersectionType'
 * ```
 */
export interface CodecNode {
  readonly _tag?: string;
  readonly name: string;
  /** InterfaceType, PartialType, StrictType, ExactType (via `type`). */
  readonly props?: Record<string, CodecNode>;
  /** IntersectionType, UnionType, TupleType. */
  readonly types?: CodecNode[];
  /** ArrayType, RefinementType, ReadonlyType, ExactType, RecursiveType… */
  readonly type?: CodecNode;
  /** LiteralType. */
  readonly value?: string | number | boolean;
  /** KeyofType. */
  readonly keys?: Record<string, unknown>;
  /** DictionaryType. */
  readonly domain?: CodecNode;
  readonly codomain?: CodecNode;
  readonly is: (value: unknown) => boolean;
}

/**
 * The codec as a {@link CodecNode}.
 *
 * @example
 * ```ts
 * const node = nodeOf(kind.definition.args);
 * ```
 */
export function nodeOf(codec: t.Mixed | t.Type<unknown, unknown, unknown>): CodecNode {
  return codec as unknown as CodecNode;
}

/** Wrappers that change nothing about a value's shape. */
const TRANSPARENT = new Set(['RefinementType', 'ReadonlyType', 'ExactType', 'StrictType']);

/**
 * The codec under refinements, brands, `readonly` and `exact`.
 *
 * @example
 * ```ts
 * unwrap(nodeOf(t.Int))._tag; // 'NumberType'
 * ```
 */
export function unwrap(node: CodecNode): CodecNode {
  let current = node;
  while (current._tag !== undefined && TRANSPARENT.has(current._tag) && current.type && !current.props) current = current.type;
  if (current._tag === 'ExactType' || current._tag === 'StrictType') return current.type ?? current;
  return current;
}

/**
 * The properties of an object codec (type, partial, or an intersection of
 * them), with which are required; `undefined` when the codec is not (only)
 * an object of known properties, e.g. a union.
 *
 * @example
 * ```ts
 * objectShape(nodeOf(writeFile.definition.args))?.required.has('path'); // true
 * ```
 */
export function objectShape(node: CodecNode): { props: Map<string, CodecNode>; required: Set<string> } | undefined {
  const inner = unwrap(node);
  if (inner._tag === 'InterfaceType' || inner._tag === 'PartialType') {
    const props = new Map(Object.entries(inner.props ?? {}));
    return { props, required: inner._tag === 'InterfaceType' ? new Set(props.keys()) : new Set() };
  }
  if (inner._tag === 'IntersectionType') {
    const props = new Map<string, CodecNode>();
    const required = new Set<string>();
    for (const member of inner.types ?? []) {
      const shape = objectShape(member);
      if (!shape) return undefined;
      for (const [key, value] of shape.props) if (!props.has(key)) props.set(key, value);
      for (const key of shape.required) required.add(key);
    }
    return { props, required };
  }
  return undefined;
}
