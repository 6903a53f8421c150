import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // p-retry is ESM-only; bundling it keeps the CommonJS build loadable everywhere.
  // It is therefore a devDependency only: bundled, never also installed.
  noExternal: ['p-retry'],
  external: ['vitest'],
});
