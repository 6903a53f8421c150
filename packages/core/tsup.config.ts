import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tsup.library.js';

const shared = {
  ...libraryBuild,
  // dist/ is emptied by the build script before both builds run (they run side by side).
  clean: false,
  // import.meta.url in the CommonJS build (the explorer finds its child scripts by it).
  shims: true,
  // p-retry is ESM-only; bundling it keeps the CommonJS build loadable everywhere.
  // It is therefore a devDependency only: bundled, never also installed.
  noExternal: ['p-retry'],
  // esbuild bundles crash-test children when it is installed (testing/child-bundle.ts); never shipped inside.
  external: ['vitest', 'esbuild'],
} as const;

export default defineConfig([
  {
    ...shared,
    entry: {
      index: 'src/index.ts',
      'testing/index': 'src/testing/index.ts',
      'testing/helpers': 'src/testing/helpers.ts',
    },
  },
  {
    ...shared,
    // The crash-state explorer's child processes, loaded by path as ES modules (they use top-level
    // await, which a CommonJS build cannot hold), from either build of the testing entry.
    entry: {
      'testing/crash-states/record-preload': 'src/testing/crash-states/record-preload.ts',
      'testing/crash-states/run-steps': 'src/testing/crash-states/run-steps.ts',
      'testing/crash-states/check-child': 'src/testing/crash-states/check-child.ts',
      'testing/crash-states/recover-steps': 'src/testing/crash-states/recover-steps.ts',
      'testing/crash-states/kill-preload': 'src/testing/crash-states/kill-preload.ts',
    },
    format: ['esm'],
    dts: false,
  },
]);
