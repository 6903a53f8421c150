import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { temporaryDirectory } from '../environment.js';
import { diffTrees, linkedTreeState } from './compare.js';
import { checkCrashStates, commitPointOnDisk, commitPointSyncedAt, transactionIdOf, notTheJournal, recordTransaction, removeSandbox, withSummary, type CrashExplorationOptions, type CrashExplorationReport, type Divergence } from './explore.js';
import { inodeIdentities, materialize, type KeptInodes } from './materialize.js';
import { applyOperations, modelOfTree, reachableEntries, type ModelEntry } from './model.js';
import { seededRandom } from './states.js';
import type { TraceOperation } from './trace.js';
import { kindsChild } from './kinds-child.js';
import { recordOperations } from './record.js';

/**
 * Where {@link exploreRecoveryCrashStates} interrupts the transaction before
 * recovering it: just before its commit-point record (recovery rolls every
 * step back) or just after that record's sync (recovery rolls forward: the
 * commit hooks and the `end` record).
 *
 * @example
 * ```ts
 * const starts: RecoveryStart[] = ['rolling back', 'rolling forward'];
 * ```
 */
export type RecoveryStart = 'rolling back' | 'rolling forward';

/**
 * A power cut during `recover()` itself. Runs the transaction once (recorded,
 * as {@link exploreCrashStates} does), takes the state a crash at `start`
 * leaves — everything before it on disk —, writes it onto the sandbox, and
 * records `recover()` on it in a child. Then every state a power cut during
 * that recovery could leave (the same model and sampling) is written out and
 * recovered again in a fresh process: the result must be the before-state
 * when recovery was rolling back, the after-state when it was rolling forward.
 *
 * With `secondCuts: N`, power is also cut a second time, during the recovery
 * of a state the first cut left: N of those states (a seeded sample spread
 * over the first recovery's cut points) are each written out, their
 * `recover()` recorded, and every crash state of it recovered once more; one
 * more report per start sums them up. Off by default (each sampled state is
 * one more recorded recovery and its own exploration).
 *
 * @example
 * ```ts
 * const reports = await exploreRecoveryCrashStates({ name: 'writeFile', kindsModule, setup, steps });
 * for (const r of reports) expect(r.divergences).toEqual([]);
 * const withSecondCuts = await exploreRecoveryCrashStates({ name: 'writeFile', kindsModule, setup, steps, secondCuts: 3 }); // four reports
 * ```
 */
export async function exploreRecoveryCrashStates(
  options: Omit<CrashExplorationOptions, 'rollback'> & { starts?: RecoveryStart[]; secondCuts?: number },
): Promise<CrashExplorationReport[]> {
  const log = withSummary(options.log ?? ((line: string) => console.log(line)));
  const seed = options.seed ?? randomInt(2 ** 31);
  const limit = options.statesPerPoint ?? 8;
  const base = temporaryDirectory('unwind-recovery-crash-states-');
  try {
    const { sandbox, journalRoot, initial, before, after, operations, programs } = await recordTransaction(base.path, options, { rollback: false, tracePath: join(base.path, 'run.jsonl') });
    const commitWrite = operations.findIndex((o) => o.op === 'write' && Buffer.from(o.data, 'base64').toString('utf8').includes('"kind":"commit-point"'));
    const commitSync = commitPointSyncedAt(operations);
    if (commitWrite < 0 || commitSync === Infinity) throw new Error(`${options.name}: the run made no durable commit point; nothing to interrupt`);
    const compared = (path: string) => notTheJournal(path) || (options.notCompared?.(path) ?? false);
    let recoveries = 0;
    // Writes `entries` onto the sandbox (keeping inode numbers from `keptFrom`), records recover() on
    // it, checks that recovery without a cut gives the expected tree, and recovers every crash state of it.
    const explore = async (name: string, entries: ModelEntry[], expected: 'before' | 'after', keptFrom: KeptInodes | undefined) => {
      const number = recoveries++;
      materialize(sandbox, entries, keptFrom);
      const interrupted = modelOfTree(sandbox);
      // The recorded recovery and every recovery of its crash states get the run's programs (a systemctl
      // that acts on the tree with --root, say), as recover({ exec }) gets them from an installer.
      const recorded = await recordOperations(kindsChild('recover-steps', options.kindsModule), [JSON.stringify({ journalRoot, kindsExport: options.kindsExport ?? 'kinds', ...(programs ? { programs } : {}) })], { root: sandbox, tracePath: join(base.path, `recover-${number}.jsonl`) });
      const uninterrupted = diffTrees((expected === 'after' ? after : before).filter((e) => !compared(e.path)), linkedTreeState(sandbox, compared));
      if (uninterrupted.length > 0) throw new Error(`${name}: recover() without a power cut does not give the ${expected}-state (${recorded.child.stdout.trim()}): ${uninterrupted.join('; ')}`);
      const recovery = recorded.trace.operations;
      const keep = options.keepInodeNumbers ? { directory: join(base.path, `inodes-${number}`), ids: inodeIdentities(interrupted) } : undefined;
      const result = await checkCrashStates({
        base: base.path, sandbox, journalRoot, options, initial: interrupted, operations: recovery, seed, limit, trees: { before, after },
        expected: () => expected, ...(keep ? { keep } : {}), ...(programs ? { programs } : {}),
      });
      return { ...result, recovery, keep: keep ? { directory: keep.directory, ids: new Map(keep.ids) } : undefined };
    };
    const reports: CrashExplorationReport[] = [];
    const report = (name: string, recovery: TraceOperation[], built: number, checked: number, divergences: Divergence[]) => {
      const syncs = recovery.filter((o) => o.op === 'fsync').length;
      log(`crash states [${name}]: ${recovery.length} operations (${syncs} syncs), ${built} crash states built, ${checked} distinct checked, ${divergences.length} divergences (seed ${seed})`);
      reports.push({ name, seed, operations: recovery.length, syncs, statesBuilt: built, statesChecked: checked, divergences, trace: recovery });
    };
    for (const start of options.starts ?? ['rolling back', 'rolling forward']) {
      const cut = start === 'rolling back' ? commitWrite : commitSync + 1;
      const entries = reachableEntries(applyOperations(initial, operations.slice(0, cut).map((operation) => ({ operation }))));
      const expected = commitPointOnDisk(entries, transactionIdOf(operations)) ? 'after' : 'before';
      if ((expected === 'after') !== (start === 'rolling forward')) throw new Error(`${options.name}: the interrupted state does not hold what ${start} needs`);
      const name = `${options.name}: a power cut during recover() ${start}`;
      const first = await explore(name, entries, expected, options.keepInodeNumbers ? { directory: join(base.path, 'inodes'), ids: new Map(inodeIdentities(initial)) } : undefined);
      report(name, first.recovery, first.built, first.checked, first.divergences);
      // A second cut, during the recovery of a state the first cut left: a bounded sample of those
      // states, spread over the cut points (every state would be one recorded recovery and its own
      // exploration each: hundreds).
      const cuts = options.secondCuts ?? 0;
      if (cuts <= 0) continue;
      const again = `${name}, then a second power cut during the next recover()`;
      const totals = { built: 0, checked: 0, divergences: [] as Divergence[], operations: [] as TraceOperation[] };
      for (const state of spread(first.states.filter((s) => s.point > 0), cuts, seededRandom(seed))) {
        const second = await explore(`${again} (first cut after operation ${state.point})`, state.entries, expected, first.keep);
        totals.built += second.built;
        totals.checked += second.checked;
        totals.divergences.push(...second.divergences.map((d) => ({ ...d, lastOperation: `first cut after recovery operation ${state.point}; second cut after ${d.lastOperation}` })));
        totals.operations.push(...second.recovery);
      }
      report(again, totals.operations, totals.built, totals.checked, totals.divergences);
    }
    return reports;
  } finally {
    removeSandbox(base, options);
  }
}

/** `count` of `states` spread evenly over their cut points (sorted by point), from a seeded offset. */
function spread<T extends { point: number }>(states: readonly T[], count: number, random: () => number): T[] {
  const sorted = [...states].sort((a, b) => a.point - b.point);
  if (sorted.length <= count) return sorted;
  const step = sorted.length / count;
  const offset = random() * step;
  return Array.from({ length: count }, (_, i) => sorted[Math.floor(offset + i * step)]!);
}
