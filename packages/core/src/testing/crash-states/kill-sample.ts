// Which kill points a kill test runs by default: every one is too slow where
// each point costs seconds (a real system manager, a whole command line), so
// a seeded sample runs, the seed printed so any run replays, and
// UNWIND_KILL_POINTS=0 runs them all.
import { killSeed } from './kill-seed.js';
import { seededRandom } from './states.js';

/**
 * How many kill points a sampled kill test runs: UNWIND_KILL_POINTS if set
 * (`0`: all of them), else `defaultBudget`.
 *
 * @example
 * ```ts
 * killBudget(12); // UNWIND_KILL_POINTS=0 → 0 (all)
 * ```
 */
export function killBudget(defaultBudget: number): number {
  return process.env.UNWIND_KILL_POINTS ? Number(process.env.UNWIND_KILL_POINTS) : defaultBudget;
}

/**
 * `count` of `items`, drawn without replacement by `random`, in their original order.
 *
 * @example
 * ```ts
 * sample(['a', 'b', 'c', 'd'], 2, seededRandom(1)); // two of them, in order
 * ```
 */
export function sample<T>(items: readonly T[], count: number, random: () => number): T[] {
  const indexes = items.map((_, i) => i);
  for (let i = indexes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [indexes[i], indexes[j]] = [indexes[j]!, indexes[i]!];
  }
  return indexes.slice(0, count).sort((a, b) => a - b).map((i) => items[i]!);
}

/**
 * The kill points to run: all of `points` when the budget ({@link killBudget}
 * of `defaultBudget`) is 0 or not smaller, else a sample drawn with the seed
 * of `killSeed()` (UNWIND_KILL_SEED replays one). Print `seed`, `chosen` and
 * the total with the test's results.
 *
 * @example
 * ```ts
 * const { chosen, seed } = killSample(records, 3); // e.g. records 4, 17 and 30 of 41
 * console.log(`running ${chosen.length} of ${records.length} kill points (seed ${seed}; UNWIND_KILL_POINTS=0 runs all)`);
 * ```
 */
export function killSample<T>(points: readonly T[], defaultBudget: number, seed: number = killSeed()): { chosen: T[]; seed: number } {
  const budget = killBudget(defaultBudget);
  return { chosen: budget > 0 && points.length > budget ? sample(points, budget, seededRandom(seed)) : [...points], seed };
}
