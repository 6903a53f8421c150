import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * Source aliases so tests run against TypeScript sources, not built output:
 * a test never passes because a stale `dist/` happened to be lying around.
 */
export const alias = {
  '@unwind/core/testing/helpers': here('./packages/core/src/testing/helpers.ts'),
  '@unwind/core/testing': here('./packages/core/src/testing/index.ts'),
  '@unwind/core': here('./packages/core/src/index.ts'),
  '@unwind/files': here('./packages/files/src/index.ts'),
  '@unwind/snapshots': here('./packages/snapshots/src/index.ts'),
  '@unwind/users': here('./packages/users/src/index.ts'),
  '@unwind/linger': here('./packages/linger/src/index.ts'),
  '@unwind/systemd': here('./packages/systemd/src/index.ts'),
  '@unwind/reconcile': here('./packages/reconcile/src/index.ts'),
  '@unwind/progress': here('./packages/progress/src/index.ts'),
  '@unwind/cli': here('./packages/cli/src/index.ts'),
};
