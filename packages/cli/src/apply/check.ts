import { isAbsolute } from 'node:path';
import type { AnyStepKind } from '@unwind/core';
import { codecProblems } from './codec-problems.js';
import { nodeOf, objectShape } from './codec-shape.js';
import { STEP_ID, TransactionFileCodec, type StepEntry, type TransactionFile } from './file-format.js';
import { TransactionFileError, pointerOf, segmentsOf, type Problem } from './problems.js';
import { REFERENCE_KEY, findReferences, type Reference } from './references.js';
import type { ParsedFile } from './load.js';
import { validateLiterals } from './literal-validate.js';

/**
 * A step of a checked file: its kind, and its arguments (with references
 * still in them when it has any).
 *
 * @example
 * ```ts
 * for (const s of checked.steps) console.log(s.kind.type, s.references.length);
 * ```
 */
export interface CheckedStep {
  entry: StepEntry;
  kind: AnyStepKind;
  args: Record<string, unknown>;
  references: Reference[];
}

/**
 * A transaction file that passed every check: it can be turned into a transaction.
 *
 * @example
 * ```ts
 * const checked = checkTransactionFile(parsed, kinds);
 * console.log(checked.file.name, checked.steps.length);
 * ```
 */
export interface CheckedFile {
  file: TransactionFile;
  steps: CheckedStep[];
}

/**
 * Checks a parsed transaction file against the registered step kinds — the
 * file's own fields, each step's kind, id and options, each step's arguments
 * with its kind's own codec and then its `validate` (as `tx.run()` does before
 * anything is touched), unknown properties, and references to earlier steps'
 * results — and collects EVERY problem before throwing one
 * {@link TransactionFileError}. Touches nothing.
 *
 * @example
 * ```ts
 * const { kinds } = await loadKinds();
 * const checked = checkTransactionFile(parseTransactionText(text, 'install.yaml'), kinds);
 * ```
 */
export function checkTransactionFile(parsed: ParsedFile, kinds: readonly AnyStepKind[]): CheckedFile {
  const value = parsed.value;
  const problems: Problem[] = codecProblems(TransactionFileCodec, value, []);
  const byType = new Map(kinds.map((k) => [k.type, k]));
  const steps: CheckedStep[] = [];
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const file = value as Partial<TransactionFile>;
    if (typeof file.name === 'string' && file.name.trim() === '') problems.push({ pointer: '/name', message: 'must not be empty' });
    if (typeof file.root === 'string' && !isAbsolute(file.root)) problems.push({ pointer: '/root', message: `must be an absolute path, got ${JSON.stringify(file.root)}` });
    if (Array.isArray(file.steps)) {
      if (file.steps.length === 0) problems.push({ pointer: '/steps', message: 'a transaction needs at least one step' });
      const ids: StepScope['ids'] = new Map();
      file.steps.forEach((entry: unknown, index) => {
        const checked = checkStep(entry, index, { byType, ids, problems, last: file.steps!.length - 1, allowIrreversible: file.allowIrreversible === true });
        if (checked) steps.push(checked);
      });
    }
  }
  // JSON has no NaN or Infinity (YAML's .nan, .inf): the journal would record null, which recovery cannot decode.
  for (const pointer of nonFinite(value, [])) if (!problems.some((p) => p.pointer === pointer)) problems.push({ pointer, message: `expected a finite number, got ${String(valueAt(value, pointer))}` });
  if (problems.length > 0) {
    // In the order of the file, as an editor shows them.
    const located = problems.map((p) => locate(p, parsed)).sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new TransactionFileError(parsed.source, located);
  }
  return { file: value as TransactionFile, steps };
}

interface StepScope {
  byType: Map<string, AnyStepKind>;
  /** Ids of the steps before this one, with their index and kind. */
  ids: Map<string, { index: number; kind: AnyStepKind | undefined }>;
  problems: Problem[];
  last: number;
  allowIrreversible: boolean;
}

function checkStep(entry: unknown, index: number, scope: StepScope): CheckedStep | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return undefined; // the file codec said so
  const { kind: type, id, args = {} } = entry as Partial<StepEntry>;
  const at = ['steps', index];
  const problem = (segments: Array<string | number>, message: string) => scope.problems.push({ pointer: pointerOf([...at, ...segments]), message });
  if (typeof id === 'string') {
    if (!STEP_ID.test(id)) problem(['id'], `must match ${STEP_ID} (letters, digits, "_" and "-"; no ".")`);
    else if (scope.ids.has(id)) problem(['id'], `"${id}" is already the id of step ${scope.ids.get(id)!.index + 1}`);
  }
  const kind = typeof type === 'string' ? scope.byType.get(type) : undefined;
  if (typeof type === 'string' && !kind) problem(['kind'], `unknown step kind "${type}"${suggestion(type, [...scope.byType.keys()])}`);
  if (kind?.definition.irreversible && index !== scope.last && !scope.allowIrreversible) problem(['kind'], `${type} cannot be undone: it must be the last step (or set allowIrreversible)`);
  const usableArgs = typeof args === 'object' && args !== null && !Array.isArray(args);
  const references = usableArgs ? findReferences(args, [...at, 'args']) : [];
  for (const reference of references) {
    const message = referenceProblem(reference, scope);
    if (message) scope.problems.push({ pointer: reference.pointer, message });
  }
  if (typeof id === 'string' && STEP_ID.test(id) && !scope.ids.has(id)) scope.ids.set(id, { index, kind });
  if (!kind || !usableArgs) return undefined;
  const before = scope.problems.length;
  scope.problems.push(...codecProblems(kind.definition.args, args, [...at, 'args'], references.map((r) => r.pointer)));
  if (scope.problems.length === before && references.length === 0 && kind.definition.validate) {
    // The kind's own semantic check, as tx.run() runs it.
    try {
      const decoded = kind.definition.args.decode(args);
      if (decoded._tag === 'Right') kind.definition.validate(decoded.right);
    } catch (error) {
      problem(['args'], (error as Error).message);
    }
  } else if (scope.problems.length === before && kind.definition.validate) {
    // With references it runs in full once they are resolved; a mistake among the literal values is reported now.
    const paths = references.map((r) => segmentsOf(r.pointer).slice(at.length + 1));
    const error = validateLiterals(kind.definition.validate, args as Record<string, unknown>, paths);
    if (error) problem(['args'], error.message);
  }
  if (scope.problems.length > before) return undefined;
  return { entry: entry as StepEntry, kind, args: args as Record<string, unknown>, references };
}

function referenceProblem(reference: Reference, scope: StepScope): string | undefined {
  const written = `{ "${REFERENCE_KEY}": "${reference.text}" }`;
  const target = scope.ids.get(reference.step);
  if (target === undefined) return `${written}: no earlier step has the id "${reference.step}" (a reference reads the result of a step before it)`;
  if (!target.kind) return undefined; // its unknown kind is reported at that step
  const after = target.kind.definition.after;
  if (!after) return `${written}: step ${target.index + 1} (${target.kind.type}) returns no result to read`;
  const field = reference.path[0];
  const shape = objectShape(nodeOf(after));
  if (field !== undefined && shape && !shape.props.has(field)) return `${written}: the result of ${target.kind.type} has no field "${field}" (it has: ${[...shape.props.keys()].join(', ')})`;
  return undefined;
}

/** Close names for a mistyped kind. */
function suggestion(type: string, known: string[]): string {
  const close = known.filter((k) => distance(k.toLowerCase(), type.toLowerCase()) <= 3);
  return close.length > 0 ? ` (did you mean ${close.map((c) => `"${c}"`).join(' or ')}?)` : ` (known kinds: ${known.join(', ')})`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

/** Pointers to every NaN or ±Infinity in a parsed value. */
function nonFinite(value: unknown, at: Array<string | number>): string[] {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [pointerOf(at)];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) => nonFinite(item, [...at, Array.isArray(value) ? Number(key) : key]));
}

function valueAt(value: unknown, pointer: string): unknown {
  return segmentsOf(pointer).reduce<unknown>((v, key) => (v as Record<string, unknown>)[key], value);
}

function locate(problem: Problem, parsed: ParsedFile): Problem {
  const segments = segmentsOf(problem.pointer);
  const step = segments[0] === 'steps' && segments[1] !== undefined && /^\d+$/.test(segments[1]) ? Number(segments[1]) : undefined;
  // A missing value has no place in the text: point at the nearest enclosing one that has.
  let where: { line: number; column: number } | undefined;
  for (let n = segments.length; n >= 0 && !where; n--) where = problem.line === undefined ? parsed.locate(pointerOf(segments.slice(0, n))) : undefined;
  return { ...problem, ...(step !== undefined ? { step } : {}), ...(where ? { line: where.line, column: where.column } : {}) };
}

