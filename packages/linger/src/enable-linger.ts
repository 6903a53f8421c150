import { defineStep } from '@unwind/core';
import { checkLingerDirectory, DEFAULT_LINGER_DIR, expectLinger, expectUndone, LingerArgs, LingerBefore, lingering, setLinger, undoLinger, validateJournaledLinger, validateLingerArgs } from './common.js';

/**
 * Turns linger on for a user (`loginctl enable-linger USER`), so the user's
 * manager runs without a login. Verified through the linger file; undo turns
 * it off again when it was off — only if the step turned it on and it is still on (compare-and-swap).
 *
 * @example
 * ```ts
 * tx.add(enableLinger({ user: 'app' }));
 * ```
 */
export const enableLinger = defineStep({
  type: 'linger.enable',
  package: '@unwind/linger',
  args: LingerArgs,
  before: LingerBefore,
  validate: validateLingerArgs,
  validateJournaled: (a) => validateJournaledLinger(a),
  describe: (a) => `enable linger for ${a.user}`,
  prepare: async (a) => {
    checkLingerDirectory(a.lingerDir ?? DEFAULT_LINGER_DIR);
    return { lingering: lingering(a) };
  },
  do: async (a, _b, ctx) => setLinger(a, ctx, true),
  verify: async (a) => expectLinger(a, true),
  undo: async (a, before, _after, ctx) => undoLinger(a, before, ctx, true),
  verifyUndo: async (a, before) => expectUndone(a, before, true),
  wouldChange: async (a) => !lingering(a),
});
