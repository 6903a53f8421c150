import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'systemd',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The system-scope tests change the machine's own units and accounts: the `machine` project runs them.
    exclude: ['**/*.machine.test.ts', '**/node_modules/**'],
    testTimeout: 60_000,
    // Clean-up stops, disables and removes every unit a test made (five systemctl calls each; a crash
    // test makes one per journal record): far more than vitest's 10 s on a loaded machine.
    hookTimeout: 120_000,
    // Real user managers, one per test worker (test/global-setup.ts): files side by side never
    // share a unit directory.
    globalSetup: ['./test/global-setup.ts'],
  },
});
