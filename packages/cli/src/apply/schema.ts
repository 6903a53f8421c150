import type { AnyStepKind } from '@unwind/core';
import { UnwindError } from '@unwind/core';
import { nodeOf, objectShape, type CodecNode } from './codec-shape.js';
import { MAX_TIMER_MS, NUMBER_CODECS, SCHEMA_ID, StepEntryCodec, TransactionFileCodec } from './file-format.js';
import { REFERENCE_KEY } from './references.js';

/** One closed object for type, partial and intersections of them; `allOf` for other intersections. */
function objectSchema(node: CodecNode, inner: (value: CodecNode) => JsonSchema, references: boolean): JsonSchema {
  const shape = objectShape(node);
  if (!shape) return { allOf: (node.types ?? []).map((m) => convert(m, references)) };
  const properties = Object.fromEntries([...shape.props].map(([key, value]) => [key, inner(value)]));
  return { type: 'object', properties, ...(shape.required.size ? { required: [...shape.required] } : {}), additionalProperties: false };
}

/**
 * A JSON Schema (draft 2020-12) document or sub-schema.
 *
 * @example
 * ```ts
 * const port: JsonSchema = { type: 'integer', minimum: 1 };
 * ```
 */
export type JsonSchema = { [keyword: string]: unknown };

/**
 * A codec shape the converter does not know: the schema cannot be generated
 * for that kind (add the shape to `codecToJsonSchema`).
 *
 * @example
 * ```ts
 * if (error instanceof UnsupportedCodecError) console.error(error.context.codec);
 * ```
 */
export class UnsupportedCodecError extends UnwindError {
  constructor(codec: string, tag: string | undefined) {
    super('UNSUPPORTED_CODEC', `cannot express the codec ${codec} (${tag ?? 'no _tag'}) as JSON Schema`, { context: { codec, tag } });
  }
}

/** Refinements whose meaning JSON Schema can state exactly. */
const REFINEMENTS: Record<string, JsonSchema> = {
  Int: { type: 'integer' },
  NonNegativeInteger: { type: 'integer', minimum: 0 },
  PositiveInteger: { type: 'integer', minimum: 1 },
  [NUMBER_CODECS.timeout.name]: { type: 'integer', minimum: 1, maximum: MAX_TIMER_MS },
  [NUMBER_CODECS.delay.name]: { type: 'integer', minimum: 0, maximum: MAX_TIMER_MS },
  [NUMBER_CODECS.retries.name]: { type: 'integer', minimum: 0, maximum: 100 },
  [NUMBER_CODECS.factor.name]: { type: 'number', minimum: 1, maximum: 10 },
};

const REFERENCE_DEF = '#/$defs/reference';

/**
 * Converts an io-ts codec to JSON Schema, for the shapes step kinds use:
 * string, number, boolean, null, unknown, literal, keyof, union,
 * type/partial/intersection (one closed object: unknown properties are
 * errors, as `unwind apply` reports them), array, record, and the integer
 * refinements. With `references`, every value inside an object or array may
 * also be a reference `{ "$result": "ID.field" }`. Anything else throws
 * {@link UnsupportedCodecError}, so a new shape cannot slip through unchecked.
 *
 * @example
 * ```ts
 * codecToJsonSchema(t.type({ path: t.string })); // { type: 'object', properties: { path: { type: 'string' } }, required: ['path'], additionalProperties: false }
 * ```
 */
export function codecToJsonSchema(codec: unknown, options: { references?: boolean } = {}): JsonSchema {
  return convert(codec as CodecNode, options.references === true);
}

function convert(node: CodecNode, references: boolean): JsonSchema {
  const inner = (value: CodecNode) => {
    const schema = convert(value, references);
    return references ? { anyOf: [schema, { $ref: REFERENCE_DEF }] } : schema;
  };
  switch (node._tag) {
    case 'StringType':
      return { type: 'string' };
    case 'NumberType':
      return { type: 'number' };
    case 'BooleanType':
      return { type: 'boolean' };
    case 'NullType':
      return { type: 'null' };
    case 'UnknownType':
      return {};
    case 'UnknownRecordType':
    case 'AnyDictionaryType':
      return { type: 'object' };
    case 'LiteralType':
      return { const: node.value };
    case 'KeyofType':
      return { enum: Object.keys(node.keys ?? {}) };
    case 'UnionType': {
      const members = (node.types ?? []).map((m) => convert(m, references));
      if (members.every((m) => 'const' in m)) return { enum: members.map((m) => m.const) };
      return { anyOf: members };
    }
    case 'ArrayType':
    case 'ReadonlyArrayType':
      return { type: 'array', items: inner(node.type!) };
    case 'DictionaryType':
      return { type: 'object', additionalProperties: inner(node.codomain!) };
    case 'RefinementType': {
      const exact = REFINEMENTS[node.name];
      return exact ? { ...exact } : convert(node.type!, references);
    }
    case 'ReadonlyType':
    case 'ExactType':
    case 'StrictType':
      return node.props ? objectSchema(node, inner, references) : convert(node.type!, references);
    case 'InterfaceType':
    case 'PartialType':
    case 'IntersectionType':
      return objectSchema(node, inner, references);
    default:
      throw new UnsupportedCodecError(node.name, node._tag);
  }
}

/**
 * The JSON Schema of transaction files for these step kinds: the file's own
 * fields from the same codec `unwind apply` checks them with, and one entry
 * shape per kind (`kind` is its registered type name, `args` its own argument
 * codec, where any value may be a reference to an earlier step's result).
 * Its `$id` is {@link SCHEMA_ID} (versioned).
 *
 * @example
 * ```ts
 * const { kinds } = await loadKinds();
 * fs.writeFileSync('transaction-file.v1.json', JSON.stringify(transactionFileSchema(kinds), null, 2));
 * ```
 */
export function transactionFileSchema(kinds: readonly AnyStepKind[]): JsonSchema {
  const file = convert(nodeOf(TransactionFileCodec), false) as { properties: Record<string, JsonSchema> };
  const entry = convert(nodeOf(StepEntryCodec), false) as { properties: Record<string, JsonSchema> };
  const { args: _args, kind: _kind, ...entryOptions } = entry.properties;
  const steps = [...kinds]
    .sort((a, b) => a.type.localeCompare(b.type))
    .map((kind) => {
      const args = convert(nodeOf(kind.definition.args), true);
      const argsRequired = Array.isArray(args.required) && args.required.length > 0;
      return {
        title: kind.type,
        description: kind.definition.package ? `${kind.type} of ${kind.definition.package}` : kind.type,
        type: 'object',
        properties: { kind: { const: kind.type }, args, ...entryOptions },
        required: argsRequired ? ['kind', 'args'] : ['kind'],
        additionalProperties: false,
      };
    });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCHEMA_ID,
    title: 'unwind transaction file',
    description: 'A transaction run by `unwind apply`: steps of the registered kinds with the same arguments as the TypeScript API. See docs/apply.md.',
    ...file,
    properties: { ...file.properties, steps: { type: 'array', minItems: 1, items: { oneOf: steps } } },
    $defs: {
      reference: {
        description: "The result of an earlier step with this id: 'ID' or 'ID.field'.",
        type: 'object',
        properties: { [REFERENCE_KEY]: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_-]*(\\.[^.]+)*$' } },
        required: [REFERENCE_KEY],
        additionalProperties: false,
      },
    },
  };
}
