import { randomInt } from 'node:crypto';

/**
 * The seed of a kill test (kill points' sample, random kill times): the one
 * given, else UNWIND_KILL_SEED (`random` draws one), else 20261203, fixed so
 * that the test gate is repeatable. The caller prints it, so any run replays.
 *
 * @example
 * ```ts
 * const seed = killSeed(options.seed); // UNWIND_KILL_SEED=42 → 42
 * ```
 */
export function killSeed(given?: number): number {
  if (given !== undefined) return given;
  const fromEnvironment = process.env.UNWIND_KILL_SEED;
  if (fromEnvironment === 'random') return randomInt(2 ** 31);
  return fromEnvironment ? Number(fromEnvironment) : 20261203;
}
