import { createHash, randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Retention } from '../../journal/journal.js';
import { REUSABLE } from '../../journal/file-journal.js';
import { parseJournal } from '../../journal/read.js';
import { runTypeScript, temporaryDirectory } from '../environment.js';
import { diffTrees, linkedTreeState, type LinkedTreeEntry } from './compare.js';
import { dependencies } from './durability.js';
import { applyOperations, modelOfTree, reachableEntries, type FileSystemModel, type ModelEntry } from './model.js';
import { kindsChild } from './kinds-child.js';
import { recordOperations } from './record.js';
import { crashStates, seededRandom, type CrashState } from './states.js';
import { describeOperation, type TraceOperation } from './trace.js';
import { inodeIdentities } from './materialize.js';

/**
 * What {@link exploreCrashStates} runs: steps of the kinds a module exports.
 *
 * @example
 * ```ts
 * const options: CrashExplorationOptions = {
 *   name: 'files.writeFile replaces a file',
 *   kindsModule: require.resolve('@unwind/files'),
 *   setup: (tree) => fs.writeFileSync(join(tree, 'a.conf'), 'old\n'),
 *   steps: (tree) => [{ type: 'files.writeFile', args: { path: join(tree, 'a.conf'), content: 'new\n' } }],
 * };
 * ```
 */
export interface CrashExplorationOptions {
  /** A label for the report. */
  name: string;
  /** The module (absolute path) whose export `kindsExport` (default `kinds`) lists the step kinds: used to run and to recover. */
  kindsModule: string;
  kindsExport?: string;
  /** Fills the tree before the run: `tree` is an empty directory in the sandbox. */
  setup?: (tree: string) => void;
  /**
   * Undoes what `setup` made outside the files of the tree before the sandbox is removed, even when
   * the exploration failed: e.g. unmounts the filesystem `setup` mounted in it to explore a step
   * across two filesystems.
   */
  teardown?: (tree: string) => void;
  /** The steps of the transaction (each `{ type, args }`), given the tree directory. */
  steps: (tree: string) => Array<{ type: string; args: unknown }>;
  /** Add a failing step last, so the run rolls every step back (undo is explored). */
  rollback?: boolean;
  /** Journal retention of the run (default `{ keepLast: 20 }`); `'remove'` explores the journal's removal. */
  retention?: Retention;
  /** Crash states checked per operation at most (default 8); beyond, a seeded sample. */
  statesPerPoint?: number;
  /** The sampling seed (default random; always printed, to replay a run). */
  seed?: number;
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
  /**
   * Keep the numbers of the inodes that existed before the run from state to
   * state, as a power cut does (see `materialize`): for a kind that journals
   * an inode number and checks it in undo (`files.move`). Off by default: a
   * kept inode has one more hard link (outside the sandbox) while it is kept.
   */
  keepInodeNumbers?: boolean;
  /**
   * Paths (relative to the sandbox, e.g. `tree/etc/passwd-`) left out of the
   * comparison: only what the kinds do not promise to restore, such as the
   * backup copies the shadow tools write on every run.
   */
  notCompared?: (path: string) => boolean;
  /**
   * Program paths for the command runner of the run and of every recovery
   * (`withPrograms`), given the tree directory (after `setup`): e.g. a
   * `systemctl` that acts on the tree with `--root` instead of on the
   * machine's manager.
   */
  programs?: (tree: string) => Record<string, string>;
}

/**
 * The configuration {@link exploreCrashStates} passes to its run-steps child.
 *
 * @example
 * ```ts
 * const config: RunStepsConfig = { name: 'x', journalRoot: '/tmp/s/journal', kindsModule: '/repo/packages/files/src/index.ts', steps: [] };
 * ```
 */
export interface RunStepsConfig {
  name: string;
  journalRoot: string;
  kindsModule: string;
  kindsExport?: string;
  steps: Array<{ type: string; args: unknown }>;
  rollback?: boolean;
  retention?: Retention;
  /** Program paths for the command runner (`withPrograms`), e.g. a stub `loginctl`. */
  programs?: Record<string, string>;
}

/**
 * A crash state whose recovery did not give the expected tree.
 *
 * @example
 * ```ts
 * for (const d of report.divergences) console.error(`${d.lastOperation}\n  lost: ${d.lost.join('\n  ')}\n  ${d.diff.join('\n  ')}`);
 * ```
 */
export interface Divergence {
  /** The power cut came after this many operations. */
  point: number;
  /** The last operation before the cut. */
  lastOperation: string;
  /** Which tree recovery had to give: `after` once the commit point is durable (or on disk). */
  expected: 'before' | 'after';
  /** The un-synced operations this state kept, and those it lost. */
  kept: string[];
  lost: string[];
  /** recover() threw or did not finish. */
  error?: string;
  /** How the recovered tree differs from the expected one. */
  diff: string[];
}

/**
 * What {@link exploreCrashStates} found.
 *
 * @example
 * ```ts
 * const report: CrashExplorationReport = await exploreCrashStates(options);
 * expect(report.divergences).toEqual([]);
 * ```
 */
export interface CrashExplorationReport {
  name: string;
  seed: number;
  /** Recorded file-system operations, and how many of them were fsync/fdatasync. */
  operations: number;
  syncs: number;
  /** Crash states built (every point, before de-duplication). */
  statesBuilt: number;
  /** Distinct crash states recovered and compared. */
  statesChecked: number;
  divergences: Divergence[];
  /** The recorded operations, for benchmarks and debugging. */
  trace: TraceOperation[];
}

/**
 * A log that also appends each line to the file `UNWIND_CRASH_SUMMARY` names,
 * when it is set: the test command sums the explored runs up at the end.
 */
export function withSummary(log: (line: string) => void): (line: string) => void {
  const file = process.env.UNWIND_CRASH_SUMMARY;
  return (line) => {
    log(line);
    if (file) fs.appendFileSync(file, `${line.replace(/^crash states /, '')}\n`);
  };
}

/**
 * Whether a journal in the state, read as recovery reads it, holds the
 * commit-point record. Only a transaction's journal counts: one in a
 * directory named by its `begin` (the reusable directory's earlier journal,
 * or that journal under the new transaction's name before its first record
 * reached the disk, is not this transaction's), or one in the reusable
 * directory whose `begin` names `transactionId`: a power cut that lost the
 * takeover's rename leaves the transaction's records there, and recovery
 * gives them their id back (see adoptReusedJournal).
 */
export function commitPointOnDisk(entries: readonly ModelEntry[], transactionId?: string): boolean {
  return entries.some((e) => {
    const match = /^journal\/([^/]+)\/journal\.jsonl$/.exec(e.path);
    if (!match || !e.data) return false;
    try {
      const { records } = parseJournal(e.path, Buffer.from(e.data, 'base64').toString('utf8'));
      const first = records[0];
      const owner = match[1] === REUSABLE ? transactionId : match[1];
      return first?.kind === 'begin' && first.id === owner && records.some((r) => r.kind === 'commit-point');
    } catch {
      return false; // a journal recovery refuses: it must leave the before-state untouched
    }
  });
}

/** The id the recorded transaction's `begin` names (undefined when no `begin` was written). */
export function transactionIdOf(operations: readonly TraceOperation[]): string | undefined {
  for (const o of operations) {
    if (o.op !== 'write') continue;
    const begin = /"kind":"begin"(?:,"format":\d+)?,"id":"([^"]+)"/.exec(Buffer.from(o.data, 'base64').toString('utf8'));
    if (begin) return begin[1];
  }
  return undefined;
}

/** The index of the sync that made the commit-point record durable (Infinity when none did). */
export function commitPointSyncedAt(operations: readonly TraceOperation[]): number {
  let journalId: string | undefined;
  for (let i = 0; i < operations.length; i++) {
    const o = operations[i]!;
    if (o.op === 'write' && Buffer.from(o.data, 'base64').toString('utf8').includes('"kind":"commit-point"')) journalId = o.id;
    if (journalId !== undefined && o.op === 'fsync' && o.id === journalId) return i;
  }
  return Infinity;
}

/** A recorded run of the transaction on a fresh sandbox: what both explorers start from. */
export interface RecordedTransaction {
  /** The sandbox (`tree/` and `journal/`), the tree the steps act on, and the journal root. */
  sandbox: string;
  tree: string;
  journalRoot: string;
  /** The model of the sandbox before the run, its compared trees before and after, and the recorded operations. */
  initial: FileSystemModel;
  before: LinkedTreeEntry[];
  after: LinkedTreeEntry[];
  operations: TraceOperation[];
  /** The program paths of the run (see {@link CrashExplorationOptions.programs}), for recovery's command runner too. */
  programs?: Record<string, string>;
}

/** The journal directory is never compared: it is the mechanism, not the state. */
export const notTheJournal = (path: string): boolean => path === 'journal';

/** Makes the sandbox under `base`, fills its tree with `setup`, and records one run of the steps in a child. */
export async function recordTransaction(
  base: string, options: Omit<CrashExplorationOptions, 'rollback'>, run: { rollback: boolean; tracePath: string },
): Promise<RecordedTransaction> {
  const sandbox = join(base, 'sandbox');
  const tree = join(sandbox, 'tree');
  const journalRoot = join(sandbox, 'journal');
  fs.mkdirSync(tree, { recursive: true });
  options.setup?.(tree);
  const programs = options.programs?.(tree);
  const initial = modelOfTree(sandbox);
  const before = linkedTreeState(sandbox, notTheJournal);
  const config: RunStepsConfig = {
    name: options.name, journalRoot, kindsModule: options.kindsModule, steps: options.steps(tree),
    ...(options.kindsExport ? { kindsExport: options.kindsExport } : {}),
    ...(run.rollback ? { rollback: true } : {}),
    ...(options.retention ? { retention: options.retention } : {}),
    ...(programs ? { programs } : {}),
  };
  const { trace } = await recordOperations(kindsChild('run-steps', config.kindsModule), [JSON.stringify(config)], { root: sandbox, tracePath: run.tracePath });
  return { sandbox, tree, journalRoot, initial, before, after: linkedTreeState(sandbox, notTheJournal), operations: trace.operations, ...(programs ? { programs } : {}) };
}

/**
 * The crash-state explorer: records a transaction's file-system operations
 * in a child process, builds the states a power cut after each operation
 * could leave (see the model in durability.ts), writes each distinct state
 * onto the sandbox, runs recover() in a fresh process, and checks the
 * result is exactly the before-state or — once the commit point is on
 * disk — the after-state. The journal directory itself is not compared.
 *
 * @example
 * ```ts
 * const report = await exploreCrashStates({
 *   name: 'writeFile',
 *   kindsModule: join(repo, 'packages/files/src/index.ts'),
 *   setup: (tree) => fs.writeFileSync(join(tree, 'a'), 'old'),
 *   steps: (tree) => [{ type: 'files.writeFile', args: { path: join(tree, 'a'), content: 'new' } }],
 * });
 * expect(report.divergences).toEqual([]);
 * ```
 */
export async function exploreCrashStates(options: CrashExplorationOptions): Promise<CrashExplorationReport> {
  const log = withSummary(options.log ?? ((line: string) => console.log(line)));
  const seed = options.seed ?? randomInt(2 ** 31);
  const limit = options.statesPerPoint ?? 8;
  const base = temporaryDirectory('unwind-crash-states-');
  try {
    const { sandbox, journalRoot, initial, before, after, operations, programs } = await recordTransaction(base.path, options, { rollback: options.rollback ?? false, tracePath: join(base.path, 'trace.jsonl') });
    const committedAt = commitPointSyncedAt(operations);
    const transactionId = transactionIdOf(operations);
    const keep = options.keepInodeNumbers ? { directory: join(base.path, 'inodes'), ids: inodeIdentities(initial) } : undefined;
    const { built, checked, divergences } = await checkCrashStates({
      base: base.path, sandbox, journalRoot, options, initial, operations, seed, limit, trees: { before, after }, ...(keep ? { keep } : {}), ...(programs ? { programs } : {}),
      expected: (point, entries) => (point > committedAt || commitPointOnDisk(entries, transactionId) ? 'after' : 'before'),
    });
    const syncs = operations.filter((o) => o.op === 'fsync').length;
    log(`crash states [${options.name}]: ${operations.length} operations (${syncs} syncs), ${built} crash states built, ${checked} distinct checked, ${divergences.length} divergences (seed ${seed})`);
    return { name: options.name, seed, operations: operations.length, syncs, statesBuilt: built, statesChecked: checked, divergences, trace: operations };
  } finally {
    removeSandbox(base, options);
  }
}

/** Removes an explorer's directory, after the options' teardown of its tree. */
export function removeSandbox(base: { path: string; remove(): void }, options: Pick<CrashExplorationOptions, 'teardown'>): void {
  try {
    if (fs.existsSync(join(base.path, 'sandbox', 'tree'))) options.teardown?.(join(base.path, 'sandbox', 'tree'));
  } finally {
    base.remove();
  }
}

/** What {@link checkCrashStates} needs: a recorded trace, the model it starts from, and the trees recovery may give. */
export interface CrashCheck {
  base: string;
  sandbox: string;
  journalRoot: string;
  options: Pick<CrashExplorationOptions, 'kindsModule' | 'kindsExport' | 'notCompared'>;
  /** Program paths for recovery's command runner (see {@link CrashExplorationOptions.programs}). */
  programs?: Record<string, string>;
  initial: FileSystemModel;
  operations: TraceOperation[];
  seed: number;
  limit: number;
  trees: { before: LinkedTreeEntry[]; after: LinkedTreeEntry[] };
  /** Which tree recovery must give from a state (its entries) cut after `point` operations. */
  expected: (point: number, entries: ModelEntry[]) => 'before' | 'after';
  keep?: { directory: string; ids: Array<[string, string]> };
}

/**
 * Builds the crash states of a trace (every cut point; sampled beyond
 * `limit` per point with a generator seeded by `seed`), recovers each
 * distinct one in a fresh process and compares it with the tree it must give.
 */
export async function checkCrashStates(check: CrashCheck): Promise<{ built: number; checked: number; divergences: Divergence[]; states: Array<{ point: number; entries: ModelEntry[] }> }> {
  const { operations, initial } = check;
  const depends = dependencies(operations);
  const random = seededRandom(check.seed);
  const unique = new Map<string, { entries: ModelEntry[]; expected: 'before' | 'after'; state: CrashState }>();
  let built = 0;
  for (let point = 0; point <= operations.length; point++) {
    for (const state of crashStates(operations, point, { limit: check.limit, random, depends })) {
      built++;
      const model = applyOperations(initial, state.kept.map((k) => ({ operation: operations[k]!, ...(state.partial.has(k) ? { keepBytes: state.partial.get(k)! } : {}) })));
      const entries = reachableEntries(model);
      const expected = check.expected(point, entries);
      const key = createHash('sha256').update(expected).update(JSON.stringify(entries)).digest('hex');
      if (!unique.has(key)) unique.set(key, { entries, expected, state });
    }
  }
  const results = await checkStates(check.base, check.sandbox, check.journalRoot, check.options, [...unique].map(([key, u]) => ({ key, entries: u.entries })), check.keep, check.programs);
  const divergences: Divergence[] = [];
  for (const [key, u] of unique) {
    const result = results.get(key);
    if (!result) throw new Error(`the checker returned no result for a crash state after operation ${u.state.point}`);
    const compared = (tree: LinkedTreeEntry[]) => (check.options.notCompared ? tree.filter((e) => !check.options.notCompared!(e.path)) : tree);
    const diff = diffTrees(compared(u.expected === 'after' ? check.trees.after : check.trees.before), compared(result.tree));
    if (diff.length === 0 && !result.error) continue;
    const describe = (k: number) => {
      const kept = u.state.partial.get(k);
      return describeOperation(k, operations[k]!) + (kept ? ` (torn: only its bytes ${kept.from} to ${kept.to}${kept.lost ? ` but ${kept.lost.from} to ${kept.lost.to}` : ''})` : '');
    };
    divergences.push({
      point: u.state.point,
      lastOperation: u.state.point === 0 ? '(none)' : describeOperation(u.state.point - 1, operations[u.state.point - 1]!),
      expected: u.expected,
      kept: u.state.keptFree.map(describe),
      lost: u.state.lost.map(describe),
      ...(result.error ? { error: result.error } : {}),
      diff,
    });
  }
  return { built, checked: unique.size, divergences, states: [...unique.values()].map((u) => ({ point: u.state.point, entries: u.entries })) };
}

/** Recovers every state in fresh child processes (a few hundred states each) and returns the trees by key. */
async function checkStates(
  base: string, sandbox: string, journalRoot: string, options: Pick<CrashExplorationOptions, 'kindsModule' | 'kindsExport'>, states: Array<{ key: string; entries: ModelEntry[] }>,
  keep?: { directory: string; ids: Array<[string, string]> }, programs?: Record<string, string>,
): Promise<Map<string, { error?: string; tree: LinkedTreeEntry[] }>> {
  const results = new Map<string, { error?: string; tree: LinkedTreeEntry[] }>();
  const batch = 400;
  for (let start = 0; start < states.length; start += batch) {
    const statesFile = join(base, 'states.jsonl');
    const resultsFile = join(base, 'results.jsonl');
    fs.writeFileSync(statesFile, states.slice(start, start + batch).map((s) => JSON.stringify(s)).join('\n') + '\n');
    const child = await runTypeScript(kindsChild('check-child', options.kindsModule), [JSON.stringify({ sandbox, journalRoot, kindsExport: options.kindsExport ?? 'kinds', statesFile, resultsFile, ...(keep ? { keep } : {}), ...(programs ? { programs } : {}) })]);
    if (child.code !== 0) throw new Error(`the crash-state checker ended with ${child.signal ?? child.code}: ${child.stderr}`);
    for (const line of fs.readFileSync(resultsFile, 'utf8').split('\n')) {
      if (!line) continue;
      const r = JSON.parse(line) as { key: string; error?: string; tree: LinkedTreeEntry[] };
      results.set(r.key, r);
    }
  }
  return results;
}
