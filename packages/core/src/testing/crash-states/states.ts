import { dependencies, durability, holes, insideCommand, tearPoints } from './durability.js';
import type { TraceOperation } from './trace.js';

/**
 * One crash state: the operations kept after a power cut following
 * operation `point - 1`; `partial` maps a write kept only in part to the
 * bytes of it kept, `from` (inclusive) `to` (exclusive).
 */
export interface CrashState {
  point: number;
  kept: number[];
  partial: Map<number, KeptBytes>;
  /** The free (un-synced) operations this state lost, and those it kept. */
  lost: number[];
  keptFree: number[];
}

/**
 * A small seeded generator (mulberry32): the same seed gives the same
 * sample, so a divergence found in a sampled run can be found again.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * random(); // 0 <= x < 1, the same sequence for 42 every time
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The bytes of a write a torn state keeps, from its own first byte: `from`
 * (inclusive) to `to` (exclusive), except the `lost` range when there is one
 * (a hole: see holes).
 */
export interface KeptBytes {
  from: number;
  to: number;
  lost?: { from: number; to: number };
}

/**
 * An operation's fate: lost, kept, or, for a write that crosses a sector
 * boundary, kept in part (see tearPoints): the disk keeps a block's sectors
 * in any order, so at each tear point either the part before it reached the
 * disk and the rest did not, or the rest did and the part before it not.
 * At the first boundary these are the states a journal's first sector
 * decides (its first line new and the rest old, or the other way round); at
 * the last, a long write kept all but its end, or only its end. A write
 * spanning a whole sector between the two may also lose that sector and
 * keep both ends (a hole: see holes).
 */
type Choice = 'lost' | 'kept' | KeptBytes;

/**
 * The crash states for a power cut after each operation: every combination
 * of the free operations' fates when there are at most `limit` of them;
 * otherwise all-lost, all-kept, the newest write that can tear torn at its
 * first sector boundary each way and with each of its holes, with
 * everything else kept (the write a power cut most likely interrupts), each
 * free operation lost alone and
 * kept alone while room is left, and the rest drawn with `random`.
 *
 * @example
 * ```ts
 * const states = crashStates(trace.operations, 20, { limit: 8, random: seededRandom(1) });
 * ```
 */
export function crashStates(operations: readonly TraceOperation[], point: number, options: { limit: number; random: () => number; depends?: number[][] }): CrashState[] {
  if (insideCommand(operations, point)) return [];
  const depends = options.depends ?? dependencies(operations);
  const { durable, free } = durability(operations, point);
  const choices = free.map((k): Choice[] => {
    const operation = operations[k]!;
    const length = operation.op === 'write' ? Buffer.from(operation.data, 'base64').length : 0;
    return ['lost', 'kept', ...tearPoints(operation).flatMap((at) => [{ from: 0, to: at }, { from: at, to: length }]), ...holes(operation).map((hole) => ({ from: 0, to: length, lost: hole }))];
  });
  const total = choices.reduce((n, c) => n * c.length, 1);
  const assignments: Choice[][] = [];
  if (total <= options.limit) {
    const walk = (i: number, sofar: Choice[]) => {
      if (i === free.length) assignments.push(sofar);
      else for (const c of choices[i]!) walk(i + 1, [...sofar, c]);
    };
    walk(0, []);
  } else {
    assignments.push(free.map(() => 'lost'), free.map(() => 'kept'));
    const newest = choices.findLastIndex((c) => c.length > 2);
    if (newest !== -1) {
      const tears = [...choices[newest]!.slice(2, 4), ...choices[newest]!.filter((c) => typeof c === 'object' && c.lost !== undefined)];
      for (const tear of tears) assignments.push(free.map((_, j) => (j === newest ? tear : 'kept')));
    }
    for (let i = 0; i < free.length && assignments.length + 2 <= options.limit / 2; i++) {
      assignments.push(free.map((_, j) => (j === i ? 'lost' : 'kept')), free.map((_, j) => (j === i ? 'kept' : 'lost')));
    }
    while (assignments.length < options.limit) assignments.push(choices.map((c) => c[Math.floor(options.random() * c.length)]!));
  }
  return assignments.map((assignment) => resolve(point, durable, free, assignment, depends));
}

/** Applies the orderings: a kept operation keeps what it depends on; a lost one loses what depends on it. */
function resolve(point: number, durable: number[], free: number[], assignment: Choice[], depends: number[][]): CrashState {
  const kept = new Set<number>();
  const keep = (k: number) => {
    if (kept.has(k)) return;
    kept.add(k);
    for (const d of depends[k]!) keep(d);
  };
  for (const k of durable) keep(k);
  const partial = new Map<number, KeptBytes>();
  free.forEach((k, i) => {
    const choice = assignment[i]!;
    if (choice === 'lost') return;
    keep(k);
    if (choice !== 'kept') partial.set(k, choice);
  });
  for (const k of kept) if (partial.has(k) && durable.includes(k)) partial.delete(k);
  const ordered = [...kept].sort((a, b) => a - b);
  return { point, kept: ordered, partial, lost: free.filter((k) => !kept.has(k)), keptFree: free.filter((k) => kept.has(k)) };
}

