/**
 * The part of a vitest project a global setup needs to start one of
 * something per test worker (vitest's `TestProject` has it; written out here
 * so that this module needs no vitest at run time or in its types).
 *
 * @example
 * ```ts
 * export default async function setup(project: WorkerProject) {
 *   console.log(workerCount(project));
 * }
 * ```
 */
export interface WorkerProject {
  readonly config: { readonly maxWorkers?: number | undefined };
  readonly vitest: { readonly config: { readonly maxWorkers?: number | undefined } };
}

/**
 * How many test files of the project can run at once: vitest numbers their
 * workers 1..this (`VITEST_POOL_ID`). A project without its own maxWorkers
 * takes the run's.
 *
 * @example
 * ```ts
 * const managers = workerCount(project); // 2 on a 2-core machine by default
 * ```
 */
export function workerCount(project: WorkerProject): number {
  return Math.max(1, project.config.maxWorkers || project.vitest.config.maxWorkers || 1);
}

/**
 * What {@link startForEveryWorker} started.
 *
 * @example
 * ```ts
 * const { started, stop }: EveryWorker<SandboxManager> = await startForEveryWorker(project, start, (m) => m.stop());
 * ```
 */
export interface EveryWorker<T> {
  /** One per worker, in worker order: index `VITEST_POOL_ID - 1`. */
  readonly started: T[];
  /** Stops every one of them (the global setup's teardown). */
  readonly stop: () => Promise<void>;
}

/**
 * Starts one of something for every test worker of a project, all or none,
 * for a vitest global setup: `start` runs once per worker, side by side; if
 * any start fails, every one that started is stopped again and the first
 * failure is thrown. Otherwise you get what started, in worker order (index
 * `VITEST_POOL_ID - 1`), and `stop`, which stops them all and is the global
 * setup's teardown.
 *
 * @example
 * ```ts
 * export default async function setup(project: TestProject) {
 *   const { started, stop } = await startForEveryWorker(project, () => startSandboxManager({ home, runtimeDir }), (m) => m.stop());
 *   project.provide('managers', started.map(({ home, runtimeDir }) => ({ home, runtimeDir })));
 *   return stop;
 * }
 * ```
 */
export async function startForEveryWorker<T>(
  project: WorkerProject,
  start: (worker: number) => Promise<T>,
  stop: (started: T) => Promise<void>,
): Promise<EveryWorker<T>> {
  const outcomes = await Promise.allSettled(Array.from({ length: workerCount(project) }, (_, index) => start(index + 1)));
  const started = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const stopAll = async () => {
    for (const one of started) await stop(one);
  };
  const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  return { started, stop: stopAll };
}
