import { defineStep } from '@unwind/core';
import { checkLingerDirectory, DEFAULT_LINGER_DIR, expectLinger, expectUndone, LingerArgs, LingerBefore, lingering, setLinger, undoLinger, validateJournaledLinger, validateLingerArgs } from './common.js';

/**
 * Turns linger off for a user (`loginctl disable-linger USER`). Verified
 * through the linger file; undo turns it on again when it was on — only if the step turned it off and it is still off (compare-and-swap).
 *
 * @example
 * ```ts
 * tx.add(disableLinger({ user: 'app' }));
 * ```
 */
export const disableLinger = defineStep({
  type: 'linger.disable',
  package: '@unwind/linger',
  args: LingerArgs,
  before: LingerBefore,
  validate: validateLingerArgs,
  validateJournaled: (a) => validateJournaledLinger(a),
  describe: (a) => `disable linger for ${a.user}`,
  prepare: async (a) => {
    checkLingerDirectory(a.lingerDir ?? DEFAULT_LINGER_DIR);
    return { lingering: lingering(a) };
  },
  do: async (a, _b, ctx) => setLinger(a, ctx, false),
  verify: async (a) => expectLinger(a, false),
  undo: async (a, before, _after, ctx) => undoLinger(a, before, ctx, false),
  verifyUndo: async (a, before) => expectUndone(a, before, false),
  wouldChange: async (a) => lingering(a),
});
