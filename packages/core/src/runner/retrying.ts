import type { RetryPolicy } from '../step.js';
import { attempt } from './attempt.js';

/**
 * Options of {@link retrying}.
 *
 * @example
 * ```ts
 * const options: RetryingOptions = { signal: ctx.signal, onRetry: (n, error) => ctx.log('try %d failed: %s', n, error) };
 * ```
 */
export interface RetryingOptions {
  /** Stops the retries: once it fired, a failure is final and no further attempt starts. */
  signal?: AbortSignal;
  /** Called after each failed attempt the policy's `retryOn` lets through (the last one included), with its number (1-based) and error. */
  onRetry?: (attempt: number, error: unknown) => void;
}

/**
 * Runs `fn` under a {@link RetryPolicy}: the runner's own retry of a step's
 * phase, for one call inside a step — a read that is safe to repeat where the
 * whole phase is not (a `prepare`, which has no retry, or a `do` that changes
 * something before it reads). The same policy object a kind gives its
 * `retry.do` works here, `retryOn` included; a failure it answers `false`
 * for, or a non-retryable one, is thrown at once. Rejects with the last
 * error, its attempt count in `attempts`.
 *
 * @example
 * ```ts
 * const policy: RetryPolicy = { retries: 4, minTimeout: 250, retryOn: (error) => /Connection reset/.test(String(error)) };
 * const state = await retrying(() => ctx.exec({ argv: ['systemctl', 'show', '--', 'app.service'] }), policy, { signal: ctx.signal });
 * ```
 */
export async function retrying<T>(fn: (attemptNumber: number) => Promise<T>, policy: RetryPolicy, options: RetryingOptions = {}): Promise<T> {
  const { value } = await attempt((_signal, attemptNumber) => fn(attemptNumber), {
    retry: policy,
    timeoutMs: undefined,
    signal: options.signal,
    // No per-call timeout here: the call keeps its own (a command's timeoutMs) and sees the signal itself.
    abortGraceMs: 5000,
    onRetry: options.onRetry ?? (() => {}),
    what: () => 'a retried call',
  });
  return value;
}
