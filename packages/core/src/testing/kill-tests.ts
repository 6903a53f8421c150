import { killAtEveryOperation, type KillWorld } from './crash-states/kill-points.js';
import { killAtRandomTimes } from './crash-states/random-kills.js';
import type { RunStepsConfig } from './crash-states/explore.js';
import { killBudget } from './crash-states/kill-sample.js';
import { runningVitest } from './running-vitest.js';

/**
 * Options of {@link killTests}.
 *
 * @example
 * ```ts
 * const options: KillTestOptions = {
 *   name: 'files',
 *   transaction: 'of every kind',
 *   runs: { committed: 'a committing run', rolledBack: 'a run that rolls back' },
 *   arrange: (rollback) => arrange(rollback),
 *   randomKills: { committed: 8 },
 * };
 * ```
 */
export interface KillTestOptions {
  /** The package or subject: labels the suites and the reports (`files, rolled back`). */
  name: string;
  /** What the transaction is, after "a kill after every mutating operation": e.g. `of every kind`. */
  transaction: string;
  /** The test titles of the committing run and of the run that rolls back. */
  runs: { committed: string; rolledBack: string };
  /** A fresh world of the run-steps child: committing, or rolling back (a failing step last). */
  arrange(rollback: boolean): KillWorld<RunStepsConfig> | Promise<KillWorld<RunStepsConfig>>;
  /** Kill points per run (default 12; UNWIND_KILL_POINTS overrides it, 0 runs all). */
  budget?: number;
  /** Fewer counted operations than this fail the run: the counter missed the transaction (default 40). */
  minimumOperations?: number;
  /** Kills at random times, per run: a run with none given is not killed at random. */
  randomKills: { committed?: number; rolledBack?: number };
  /** Called before the suites' tests: throws (see `requireHere`) when they cannot run here. */
  requires?: () => void;
  /** Milliseconds per test (default 600 000). */
  timeoutMs?: number;
}

/** The kill points a run must have checked: its whole sample, or every point when the sample would hold them all. */
function expectedChecks(budget: number, points: number): number {
  const limit = killBudget(budget);
  return limit > 0 && points > limit ? limit : points;
}

/**
 * Declares the two suites of a package's kill tests on a transaction of the
 * run-steps child: a SIGKILL after every mutating operation in turn (a
 * seeded sample; see {@link killAtEveryOperation}), committing and rolling
 * back, each recovering to exactly the before- or after-state; and kills at
 * random times from the measured span of the transaction
 * ({@link killAtRandomTimes}), every one of which must land inside it
 * (one that lands outside is drawn again, up to twice as many draws).
 *
 * @example
 * ```ts
 * killTests({
 *   name: 'files',
 *   transaction: 'of every kind',
 *   runs: { committed: 'a committing run (every do and commit)', rolledBack: 'a run that rolls back (every do and undo)' },
 *   arrange: (rollback) => arrange(rollback),
 *   randomKills: { committed: 8 },
 *   requires: () => requireHere(isRoot ? false : 'not root', 'root'),
 * });
 * ```
 */
export function killTests(options: KillTestOptions): void {
  const { beforeAll, describe, expect, it } = runningVitest('killTests');
  const budget = options.budget ?? 12;
  const timeout = options.timeoutMs ?? 600_000;
  const label = (rollback: boolean) => `${options.name}, ${rollback ? 'rolled back' : 'committed'}`;
  const runs: Array<[string, boolean]> = [[options.runs.committed, false], [options.runs.rolledBack, true]];

  describe(`${options.name}: a kill after every mutating operation ${options.transaction}, then recover()`, () => {
    if (options.requires) beforeAll(options.requires);
    it.each(runs)('%s', async (_title, rollback) => {
      const report = await killAtEveryOperation({ name: label(rollback), arrange: () => options.arrange(rollback), budget });
      expect(report.operations).toBeGreaterThan(options.minimumOperations ?? 40);
      if (!process.env.UNWIND_KILL_ONLY) expect(report.checked.length).toBe(expectedChecks(budget, report.operations + report.insidePoints));
      // A rolled-back run never reaches its commit point, so no kill can land past it.
      if (rollback) expect(report.afterCommitPoint).toBe(0);
      expect(report.failures).toEqual([]);
    }, timeout);
  });

  const random = runs.flatMap(([, rollback]) => {
    const kills = rollback ? options.randomKills.rolledBack : options.randomKills.committed;
    return kills === undefined ? [] : [[rollback ? 'rolling back' : 'committing', rollback, kills] as [string, boolean, number]];
  });
  if (random.length === 0) return;
  // From its first change under a root — the child waits there, so node's start-up is not in the window — to its last.
  describe(`${options.name}: kills at random times inside the transaction, then recover()`, () => {
    if (options.requires) beforeAll(options.requires);
    it.each(random)('%s: every kill lands inside the transaction (drawn again when outside); every one recovers to the before- or after-state', async (_title, rollback, kills) => {
      const report = await killAtRandomTimes({ name: label(rollback), arrange: () => options.arrange(rollback), kills });
      expect(report.spanMs).toBeGreaterThan(0);
      expect(report.landedInside, `${report.landedInside} of ${report.kills} kills landed inside the transaction in ${report.draws} draws`).toBe(report.kills);
      expect(report.failures).toEqual([]);
    }, timeout);
  });
}
