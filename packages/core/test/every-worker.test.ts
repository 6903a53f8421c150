import { describe, expect, it } from 'vitest';
import { startForEveryWorker, workerCount } from '@unwind/core/testing';

// startForEveryWorker: one of something per test worker of a project, all or none.

const project = (own: number | undefined, run: number | undefined) => ({ config: { maxWorkers: own }, vitest: { config: { maxWorkers: run } } });

describe('startForEveryWorker', () => {
  it('starts one per worker (the project\'s maxWorkers, else the run\'s), in worker order, and stops them all', async () => {
    expect(workerCount(project(undefined, 3))).toBe(3);
    expect(workerCount(project(2, 4))).toBe(2);
    expect(workerCount(project(undefined, undefined))).toBe(1);
    const stopped: number[] = [];
    const { started, stop } = await startForEveryWorker(project(undefined, 3), async (worker) => ({ worker }), async ({ worker }) => void stopped.push(worker));
    expect(started).toEqual([{ worker: 1 }, { worker: 2 }, { worker: 3 }]);
    expect(stopped).toEqual([]);
    await stop();
    expect(stopped).toEqual([1, 2, 3]);
  });

  it('when one start fails, stops every one that started and throws that failure: none is left running', async () => {
    const stopped: number[] = [];
    const failure = new Error('worker 2 could not start');
    await expect(
      startForEveryWorker(project(3, undefined), async (worker) => {
        if (worker === 2) throw failure;
        return worker;
      }, async (worker) => void stopped.push(worker)),
    ).rejects.toBe(failure);
    expect(stopped.sort()).toEqual([1, 3]);
  });
});
