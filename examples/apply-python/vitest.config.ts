import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'example-apply-python',
    include: ['test/**/*.test.ts'],
    testTimeout: 180_000,
    // The systemd package's user managers, one per test worker (only inside the test run's throw-away machine).
    globalSetup: ['../../packages/systemd/test/global-setup.ts'],
  },
});
