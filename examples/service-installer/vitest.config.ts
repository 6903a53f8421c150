import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'example-service-installer',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Real systemd user managers, one per test worker (test/global-setup.ts): files side by side
    // never share a unit directory or default.target.wants.
    globalSetup: ['./test/global-setup.ts'],
  },
});
