import { defineProject } from 'vitest/config';
import { alias } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { alias },
  test: { name: 'example-user-destroy', include: ['test/**/*.test.ts'], testTimeout: 60_000 },
});
