// The desired repository is fetched as the run's first transaction, under
// the run's lock (so no other run resets the checkout while this one reads
// it), after any unfinished transaction of an earlier run is recovered.
import { UnwindError, describeOutcome, transaction, type AnyStepKind, type CommandRunner, type Journal, type Lock } from '@unwind/core';
import { fetchDesired } from './desired-git.js';

/**
 * The desired state could not be fetched; the checkout is as it was (the
 * fetch was rolled back), nothing else was touched. Code DESIRED_FETCH_FAILED.
 *
 * @example
 * ```ts
 * if (error instanceof DesiredFetchError) console.error(error.message); // exit 1
 * ```
 */
export class DesiredFetchError extends UnwindError<'DESIRED_FETCH_FAILED'> {
  constructor(repository: string, status: string, description: string) {
    super('DESIRED_FETCH_FAILED', `fetching the desired state from ${repository} failed (${status}); no container was touched:\n${description}`, { context: { repository, status } });
  }
}

/**
 * Runs {@link fetchDesired} as one transaction under `lock`, recovering
 * earlier unfinished transactions first; throws {@link DesiredFetchError}
 * unless it committed.
 *
 * @example
 * ```ts
 * await fetchUnderLock({ repository, branch: 'main', checkout: '/var/lib/cr/repo' }, journal, lock, { kinds: reconcilerKinds });
 * ```
 */
export async function fetchUnderLock(
  args: { repository: string; branch: string; checkout: string },
  journal: Journal,
  lock: Lock,
  options: { kinds: Iterable<AnyStepKind>; exec?: CommandRunner; handleSignals?: boolean },
): Promise<string> {
  const tx = transaction(`fetch the desired state (${args.branch})`, {
    journal,
    lock,
    recoverFirst: true,
    kinds: options.kinds,
    ...(options.exec ? { exec: options.exec } : {}),
    ...(options.handleSignals !== undefined ? { handleSignals: options.handleSignals } : {}),
  });
  tx.add(fetchDesired(args));
  const outcome = await tx.run();
  if (outcome.status !== 'committed') throw new DesiredFetchError(args.repository, outcome.status, describeOutcome(outcome));
  return args.checkout;
}
