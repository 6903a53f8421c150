import { describe, expect, it } from 'vitest';
import { NonRetryableError, retrying, type RetryPolicy } from '@unwind/core';

/** A call that throws each of `messages` in turn, then returns how many times it ran. */
function failing(...messages: string[]) {
  const attempts: number[] = [];
  const call = async (attemptNumber: number) => {
    attempts.push(attemptNumber);
    const message = messages[attempts.length - 1];
    if (message === 'fatal') throw new NonRetryableError(new Error(message));
    if (message !== undefined) throw new Error(message);
    return attempts.length;
  };
  return { call, attempts };
}

const policy: RetryPolicy = { retries: 3, minTimeout: 1, retryOn: (error) => (error as Error).message === 'passing' };

describe('retrying: one call under a step\'s RetryPolicy', () => {
  it('tries a failure retryOn lets through again, and returns the first success', async () => {
    const { call, attempts } = failing('passing', 'passing');
    expect(await retrying(call, policy)).toBe(3);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('after the retries, rejects with the last error and its attempt count', async () => {
    const { call } = failing('passing', 'passing', 'passing', 'passing', 'passing');
    await expect(retrying(call, policy)).rejects.toMatchObject({ message: 'passing', attempts: 4 });
  });

  it('a failure retryOn refuses, or a non-retryable one, fails at once, as it is', async () => {
    const lasting = failing('passing', 'lasting');
    await expect(retrying(lasting.call, policy)).rejects.toMatchObject({ message: 'lasting', attempts: 2 });
    const fatal = failing('fatal');
    await expect(retrying(fatal.call, { retries: 3, minTimeout: 1 })).rejects.toMatchObject({ attempts: 1 });
    expect(fatal.attempts).toEqual([1]);
  });

  it('once the signal fired, no further attempt starts', async () => {
    const controller = new AbortController();
    let runs = 0;
    const call = async () => {
      runs++;
      controller.abort(new Error('stopped'));
      throw new Error('passing');
    };
    await expect(retrying(call, policy, { signal: controller.signal })).rejects.toThrow();
    expect(runs).toBe(1);
  });
});
