import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'example-apply-python',
    include: ['test/**/*.test.ts'],
    testTimeout: 180_000,
    // The systemd package's sandbox user manager (only inside the test run's private mount namespace).
    globalSetup: ['../../packages/systemd/test/global-setup.ts'],
    fileParallelism: false,
  },
});
