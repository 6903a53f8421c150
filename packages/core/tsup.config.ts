import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts', 'testing/helpers': 'src/testing/helpers.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  // No sourcemaps: the output is readable unminified JavaScript, and maps that embed
  // the sources were most of each tarball (maps without them would point at files not shipped).
  sourcemap: false,
  target: 'node20',
  // p-retry is ESM-only; bundling it keeps the CommonJS build loadable everywhere.
  // It is therefore a devDependency only: bundled, never also installed.
  noExternal: ['p-retry'],
  external: ['vitest'],
});
