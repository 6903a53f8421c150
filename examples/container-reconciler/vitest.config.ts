import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'example-container-reconciler',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    // Clean-up stops and purges units on the manager for every sandbox a test made.
    hookTimeout: 120_000,
    // The real systemd user managers of the systemd package's tests, one per test worker: every
    // container's unit runs on the manager of the worker running its file.
    globalSetup: ['../../packages/systemd/test/global-setup.ts'],
  },
});
