import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'users',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Tests that change the machine's own accounts run in the `machine` project (vitest.machine.config.ts).
    exclude: ['**/*.machine.test.ts', '**/node_modules/**'],
    testTimeout: 60_000,
  },
});
