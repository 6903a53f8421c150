import { defineStep } from '@unwind/core';
import { expectLinger, LingerArgs, LingerBefore, lingering, setLinger, validateLingerArgs } from './common.js';

/**
 * Turns linger off for a user (`loginctl disable-linger USER`). Verified
 * through the linger file; undo turns it on again when it was on.
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
  describe: (a) => `disable linger for ${a.user}`,
  prepare: async (a) => ({ lingering: lingering(a) }),
  do: async (a, _b, ctx) => setLinger(a, ctx, false),
  verify: async (a) => expectLinger(a, false),
  undo: async (a, before, _after, ctx) => setLinger(a, ctx, before.lingering),
  verifyUndo: async (a, before) => expectLinger(a, before.lingering),
  wouldChange: async (a) => lingering(a),
});
