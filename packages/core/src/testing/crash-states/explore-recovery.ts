import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { temporaryDirectory } from '../environment.js';
import { diffTrees, linkedTreeState } from './compare.js';
import { checkCrashStates, commitPointOnDisk, commitPointSyncedAt, withSummary, type CrashExplorationOptions, type CrashExplorationReport, type RunStepsConfig } from './explore.js';
import { inodeIdentities, materialize } from './materialize.js';
import { applyOperations, modelOfTree, reachableEntries } from './model.js';
import { crashStateScript, recordOperations } from './record.js';

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
 * @example
 * ```ts
 * const reports = await exploreRecoveryCrashStates({ name: 'writeFile', kindsModule, setup, steps });
 * for (const r of reports) expect(r.divergences).toEqual([]);
 * ```
 */
export async function exploreRecoveryCrashStates(
  options: Omit<CrashExplorationOptions, 'rollback'> & { starts?: RecoveryStart[] },
): Promise<CrashExplorationReport[]> {
  const log = withSummary(options.log ?? ((line: string) => console.log(line)));
  const seed = options.seed ?? randomInt(2 ** 31);
  const limit = options.statesPerPoint ?? 8;
  const base = temporaryDirectory('unwind-recovery-crash-states-');
  try {
    const sandbox = join(base.path, 'sandbox');
    const tree = join(sandbox, 'tree');
    const journalRoot = join(sandbox, 'journal');
    fs.mkdirSync(tree, { recursive: true });
    options.setup?.(tree);
    const ignore = (path: string) => path === 'journal';
    const initial = modelOfTree(sandbox);
    const before = linkedTreeState(sandbox, ignore);
    const config: RunStepsConfig = {
      name: options.name, journalRoot, kindsModule: options.kindsModule, steps: options.steps(tree),
      ...(options.kindsExport ? { kindsExport: options.kindsExport } : {}),
      ...(options.retention ? { retention: options.retention } : {}),
    };
    const run = await recordOperations(crashStateScript('run-steps'), [JSON.stringify(config)], { root: sandbox, tracePath: join(base.path, 'run.jsonl') });
    const after = linkedTreeState(sandbox, ignore);
    const operations = run.trace.operations;
    const commitWrite = operations.findIndex((o) => o.op === 'write' && Buffer.from(o.data, 'base64').toString('utf8').includes('"kind":"commit-point"'));
    const commitSync = commitPointSyncedAt(operations);
    if (commitWrite < 0 || commitSync === Infinity) throw new Error(`${options.name}: the run made no durable commit point; nothing to interrupt`);
    const keepIds = inodeIdentities(initial);
    const reports: CrashExplorationReport[] = [];
    for (const start of options.starts ?? ['rolling back', 'rolling forward']) {
      const cut = start === 'rolling back' ? commitWrite : commitSync + 1;
      const entries = reachableEntries(applyOperations(initial, operations.slice(0, cut).map((operation) => ({ operation }))));
      const expected = commitPointOnDisk(entries) ? 'after' : 'before';
      if ((expected === 'after') !== (start === 'rolling forward')) throw new Error(`${options.name}: the interrupted state does not hold what ${start} needs`);
      const keep = options.keepInodeNumbers ? { directory: join(base.path, `inodes-${reports.length}`), ids: keepIds } : undefined;
      materialize(sandbox, entries, keep ? { directory: join(base.path, 'inodes'), ids: new Map(keepIds) } : undefined);
      const interrupted = modelOfTree(sandbox);
      const recorded = await recordOperations(crashStateScript('recover-steps'), [JSON.stringify({ journalRoot, kindsModule: options.kindsModule, kindsExport: options.kindsExport ?? 'kinds' })], { root: sandbox, tracePath: join(base.path, `recover-${reports.length}.jsonl`) });
      const name = `${options.name}: a power cut during recover() ${start}`;
      const compared = (path: string) => ignore(path) || (options.notCompared?.(path) ?? false);
      const uninterrupted = diffTrees((expected === 'after' ? after : before).filter((e) => !compared(e.path)), linkedTreeState(sandbox, compared));
      if (uninterrupted.length > 0) throw new Error(`${name}: recover() without a power cut does not give the ${expected}-state (${recorded.child.stdout.trim()}): ${uninterrupted.join("; ")}`);
      const recovery = recorded.trace.operations;
      const { built, checked, divergences } = await checkCrashStates({
        base: base.path, sandbox, journalRoot, options, initial: interrupted, operations: recovery, seed, limit, trees: { before, after },
        expected: () => expected, ...(keep ? { keep: { directory: keep.directory, ids: inodeIdentities(interrupted) } } : {}),
      });
      const syncs = recovery.filter((o) => o.op === 'fsync').length;
      log(`crash states [${name}]: ${recovery.length} operations (${syncs} syncs), ${built} crash states built, ${checked} distinct checked, ${divergences.length} divergences (seed ${seed})`);
      reports.push({ name, seed, operations: recovery.length, syncs, statesBuilt: built, statesChecked: checked, divergences, trace: recovery });
    }
    return reports;
  } finally {
    base.remove();
  }
}
