import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'example-service-installer',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // One real systemd user manager for the whole project (test/global-setup.ts).
    globalSetup: ['./test/global-setup.ts'],
    // The test files share that manager's unit directory and default.target.wants.
    fileParallelism: false,
  },
});
