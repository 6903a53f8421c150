import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'testing/helpers': 'src/testing/helpers.ts',
    // The crash-state explorer's child processes load these by path.
    'testing/crash-states/record-preload': 'src/testing/crash-states/record-preload.ts',
    'testing/crash-states/run-steps': 'src/testing/crash-states/run-steps.ts',
    'testing/crash-states/check-child': 'src/testing/crash-states/check-child.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  // No sourcemaps: the output is readable unminified JavaScript, and maps that embed
  // the sources were most of each tarball (maps without them would point at files not shipped).
  sourcemap: false,
  target: 'node20',
  // import.meta.url in the CommonJS build (the explorer finds its child scripts by it).
  shims: true,
  // p-retry is ESM-only; bundling it keeps the CommonJS build loadable everywhere.
  // It is therefore a devDependency only: bundled, never also installed.
  noExternal: ['p-retry'],
  external: ['vitest'],
});
