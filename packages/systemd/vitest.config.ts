import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'systemd',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    // Clean-up stops, disables and removes every unit a test made (five systemctl calls each; a crash
    // test makes one per journal record): far more than vitest's 10 s on a loaded machine.
    hookTimeout: 120_000,
    // One real user manager for the whole project (test/global-setup.ts); test files share its
    // unit directory, so they run one after another.
    globalSetup: ['./test/global-setup.ts'],
    fileParallelism: false,
  },
});
