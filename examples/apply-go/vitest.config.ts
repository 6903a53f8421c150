import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: {
    name: 'example-apply-go',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
  },
});
