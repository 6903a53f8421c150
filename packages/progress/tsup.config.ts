import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  // No sourcemaps: the output is readable unminified JavaScript, and maps that embed
  // the sources were most of each tarball (maps without them would point at files not shipped).
  sourcemap: false,
  target: 'node20',
});
