import { defineProject } from 'vitest/config';
import { alias } from './vitest.shared.ts';

/**
 * The tests that change the throw-away machine's own state — real accounts in
 * its /etc/passwd, logind sessions, linger — named `*.machine.test.ts` in any
 * package. They run one file at a time, after the other projects' files (a
 * project with maxWorkers 1 is scheduled on its own), so the tests that prove
 * the machine's user database stays byte for byte as it was (the prefix-root
 * tests) never run beside them.
 */
export default defineProject({
  resolve: { alias },
  test: {
    name: 'machine',
    include: ['packages/*/test/**/*.machine.test.ts', 'examples/*/test/**/*.machine.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
  },
});
