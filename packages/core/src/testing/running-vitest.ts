import type * as Vitest from 'vitest';

/**
 * A vitest-only helper (the conformance suite) was called outside a vitest
 * test file.
 *
 * @example
 * ```ts
 * try { conformanceSuite(writeFile, options); }
 * catch (error) { if (error instanceof OutsideVitestError) console.error(error.context.helper); }
 * ```
 */
export class OutsideVitestError extends Error {
  override readonly name = 'OutsideVitestError';
  readonly code = 'OUTSIDE_VITEST';
  constructor(readonly context: { helper: string }) {
    super(`${context.helper} defines vitest tests: call it from a test file vitest runs. Outside vitest (node:test, jest, a script), import the framework-free helpers from @unwind/core/testing/helpers.`);
  }
}

/**
 * The `vitest` module of the test file vitest is running now — what a test
 * file gets from `import { describe, it, expect } from 'vitest'`, which a vitest
 * worker also keeps on `globalThis.__vitest_index__` (the same object
 * `import.meta.vitest` gives in-source tests). Taken from there instead of
 * imported, so that importing `@unwind/core/testing` never loads vitest and
 * chai: it loads without vitest installed (an optional peer dependency) and
 * from CommonJS, which vitest refuses to be required from.
 *
 * @example
 * ```ts
 * const { describe, it, expect } = runningVitest('conformanceSuite');
 * ```
 */
export function runningVitest(helper: string): typeof Vitest {
  const running = (globalThis as { __vitest_index__?: typeof Vitest }).__vitest_index__;
  if (!running?.describe) throw new OutsideVitestError({ helper });
  return running;
}
