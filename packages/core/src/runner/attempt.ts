import pRetry, { AbortError } from 'p-retry';
import { StepTimeoutError, isRetryable } from '../errors.js';
import type { RetryPolicy } from '../step.js';

/** How to run one phase (do, undo, commit) of a step. */
export interface AttemptOptions {
  retry: RetryPolicy | undefined;
  timeoutMs: number | undefined;
  /** Cancels the phase (the transaction's signal for `do`; never a user signal for `undo`). */
  signal: AbortSignal | undefined;
  /** How long to wait for a cancelled attempt to settle before giving up on it. */
  abortGraceMs: number;
  onRetry: (attempt: number, error: unknown) => void;
  what: () => string;
}

/**
 * Runs `fn` with a per-attempt timeout and retries. Resolves with the value
 * and the number of attempts; rejects with the last error (its attempt count
 * in `attempts`).
 */
export async function attempt<T>(fn: (signal: AbortSignal, attemptNumber: number) => Promise<T>, options: AttemptOptions): Promise<{ value: T; attempts: number }> {
  let attempts = 0;
  const once = (n: number) => {
    attempts = n;
    return withTimeout((signal) => fn(signal, n), options);
  };
  const retries = options.retry?.retries ?? 0;
  if (retries <= 0) {
    try {
      return { value: await once(1), attempts: 1 };
    } catch (error) {
      throw withAttempts(error, 1);
    }
  }
  try {
    const value = await pRetry(
      async (n) => {
        try {
          return await once(n);
        } catch (error) {
          if (!isRetryable(error) || options.signal?.aborted || options.retry?.retryOn?.(error) === false) throw new AbortError(asError(error));
          throw asError(error);
        }
      },
      {
        retries,
        minTimeout: options.retry?.minTimeout ?? 100,
        maxTimeout: options.retry?.maxTimeout ?? 5000,
        factor: options.retry?.factor ?? 2,
        onFailedAttempt: (error) => options.onRetry(error.attemptNumber, error),
      },
    );
    return { value, attempts };
  } catch (error) {
    throw withAttempts(error, attempts);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function withAttempts(error: unknown, attempts: number): unknown {
  if (error && typeof error === 'object') (error as { attempts?: number }).attempts = attempts;
  return error;
}

const NEVER = new AbortController().signal;
const abandonments = new WeakMap<AbortSignal, Set<(reason: unknown) => void>>();

/**
 * Calls `reject` `grace` ms after `signal` fires, unless the returned function
 * was called first: a step that ignores its signal is abandoned then. One
 * listener per signal and a set of waiters, so a transaction of many steps
 * leaves nothing behind per step (a promise raced by every step would keep a
 * reaction for each of them until the signal fires, which it mostly never does).
 */
function whenAbandoned(signal: AbortSignal, grace: number, reject: (reason: unknown) => void): () => void {
  let waiters = abandonments.get(signal);
  if (!waiters) {
    const created = new Set<(reason: unknown) => void>();
    signal.addEventListener('abort', () => setTimeout(() => { for (const waiter of created) waiter(signal.reason); }, grace).unref(), { once: true });
    abandonments.set(signal, created);
    waiters = created;
  }
  const own = waiters;
  own.add(reject);
  return () => own.delete(reject);
}

/**
 * One attempt with no timeout and no retry: `attempt`'s commonest case, for
 * the runner's step loop, without its per-call options, closures and async
 * wrappers (the memory-journal profile's largest part after garbage
 * collection). The step gets the parent signal itself (no per-attempt
 * controller); a step that ignores it is abandoned `abortGraceMs` after it
 * fires. Rejects with the error, its attempt count (1) in `attempts`.
 */
export function attemptOnce<T>(fn: (signal: AbortSignal) => Promise<T>, parent: AbortSignal | undefined, abortGraceMs: number): Promise<T> {
  if (parent?.aborted) return Promise.reject(withAttempts(parent.reason, 1));
  if (parent !== undefined) return untimed(fn, parent, abortGraceMs, true);
  try {
    return fn(NEVER).catch((error: unknown) => Promise.reject(withAttempts(error, 1)));
  } catch (error) {
    return Promise.reject(withAttempts(error, 1));
  }
}

async function withTimeout<T>(fn: (signal: AbortSignal) => Promise<T>, options: AttemptOptions): Promise<T> {
  const parent = options.signal;
  if (parent?.aborted) throw parent.reason;
  if (options.timeoutMs === undefined) {
    // No per-attempt controller: the step gets the parent signal itself.
    if (parent === undefined) return fn(NEVER);
    return untimed(fn, parent, options.abortGraceMs, false);
  }
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let rejectCancel!: (error: unknown) => void;
  const cancelled = new Promise<never>((_, reject) => {
    rejectCancel = reject;
  });
  let work: Promise<T> | undefined;
  const cancel = (reason: unknown) => {
    if (controller.signal.aborted) return;
    controller.abort(reason);
    if (!work) return rejectCancel(reason);
    // Give the attempt a moment to stop on its own (kill its process group, close
    // files); a step that ignores its signal is abandoned after the grace period.
    const grace = setTimeout(() => rejectCancel(reason), options.abortGraceMs);
    grace.unref();
    work.then(
      () => { clearTimeout(grace); rejectCancel(reason); },
      () => { clearTimeout(grace); rejectCancel(reason); },
    );
  };
  const onParentAbort = () => cancel(parent!.reason);
  parent?.addEventListener('abort', onParentAbort, { once: true });
  if (options.timeoutMs !== undefined) {
    timer = setTimeout(
      () => cancel(new StepTimeoutError(`${options.what()} timed out after ${options.timeoutMs} ms`, { timeoutMs: options.timeoutMs })),
      options.timeoutMs,
    );
  }
  work = fn(controller.signal);
  try {
    return await Promise.race([work, cancelled]);
  } catch (error) {
    // A step that stopped because of its signal reports why it was stopped.
    throw controller.signal.aborted ? controller.signal.reason : error;
  } finally {
    if (timer) clearTimeout(timer);
    parent?.removeEventListener('abort', onParentAbort);
  }
}

/**
 * The parent signal's attempt with no timer: `fn`'s result, or its
 * rejection once `parent` fired and `grace` passed. With `single`, a
 * rejection carries `attempts: 1` (see attemptOnce).
 */
function untimed<T>(fn: (signal: AbortSignal) => Promise<T>, parent: AbortSignal, grace: number, single: boolean): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = single ? (reason: unknown) => reject(withAttempts(reason, 1)) : reject;
    const forget = whenAbandoned(parent, grace, fail);
    const settle = (error: unknown) => {
      forget();
      fail(parent.aborted ? parent.reason : error);
    };
    let work: Promise<T>;
    try {
      work = fn(parent);
    } catch (error) {
      settle(error);
      return;
    }
    work.then((value) => {
      forget();
      resolve(value);
    }, settle);
  });
}
