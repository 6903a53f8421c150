import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'example-container-reconciler',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    // Clean-up stops and purges units on the shared manager for every sandbox a test made.
    hookTimeout: 120_000,
    // The real systemd user manager of the systemd package's tests: every
    // container's unit runs on it. Test files share it, so they run one after another.
    globalSetup: ['../../packages/systemd/test/global-setup.ts'],
    fileParallelism: false,
  },
});
