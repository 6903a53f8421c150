import { CommandFailedError, type RetryPolicy } from '@unwind/core';
import { UserManagerUnreachableError } from './errors.js';

/**
 * What systemctl prints when its bus connection failed for a passing reason:
 * the manager (or the `--machine=USER@` hop to it) dropped or refused the
 * connection, not the request.
 */
const TRANSIENT_BUS_FAILURES = [/Transport endpoint is not connected/, /Connection reset by peer/, /Failed to connect to bus/];

/**
 * Whether a systemctl failure is a transient bus error: the command exited
 * non-zero and said its connection to the manager dropped or could not be
 * made; or a user's manager did not answer `is-system-running`. A timeout,
 * a unit the manager rejects or any other failure is not.
 */
export function isTransientBusError(error: unknown): boolean {
  if (error instanceof UserManagerUnreachableError) return true;
  if (!(error instanceof CommandFailedError)) return false;
  const stderr = error.result?.stderr ?? '';
  return TRANSIENT_BUS_FAILURES.some((pattern) => pattern.test(stderr));
}

/**
 * The default retry of a systemctl command that is safe to run again: a
 * transient bus error is tried up to 4 more times (waits 0.25, 0.5, 1, 2 s);
 * every other failure fails the step at once.
 */
export const TRANSIENT_BUS_RETRY: RetryPolicy = { retries: 4, minTimeout: 250, factor: 2, maxTimeout: 2000, retryOn: isTransientBusError };
