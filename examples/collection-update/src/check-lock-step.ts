import * as t from 'io-ts';
import { VerificationError, defineStep, validateAbsolutePath } from '@unwind/core';
import { checkLock } from './check-lock.js';

/**
 * A read-only last step whose `verify` checks, on the real disk, that every
 * locked sha256 matches its file and the lock agrees with the manifest. If
 * not, the whole update rolls back: a committed update always has a true lock.
 *
 * @example
 * ```ts
 * tx.add(lockHolds({ dir: '/srv/collection' }));
 * ```
 */
export const lockHolds = defineStep({
  type: 'collection.lockHolds',
  package: '@unwind/example-collection-update',
  args: t.type({ dir: t.string }),
  before: t.null,
  validate: (a) => validateAbsolutePath(a.dir, { what: 'collection directory' }),
  describe: (a) => `check that the lock matches the files in ${a.dir}`,
  prepare: async () => null,
  do: async () => {},
  verify: async (a) => {
    const problems = checkLock(a.dir);
    if (problems.length > 0) throw new VerificationError(`the lock does not hold: ${problems.join('; ')}`, { dir: a.dir, problems });
  },
  undo: async () => {},
});
