import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

const common = {
  // The build script empties dist/ first: two builds write here at once, so neither may clean it.
  clean: false,
  // No sourcemaps: the output is readable unminified JavaScript, and maps that embed
  // the sources were most of each tarball (maps without them would point at files not shipped).
  sourcemap: false,
  target: 'node20',
  define: { __UNWIND_CLI_VERSION__: JSON.stringify(version) },
} as const;

export default defineConfig([
  // The library: ESM and CommonJS, with types.
  { ...common, entry: { index: 'src/index.ts' }, format: ['esm', 'cjs'], dts: true },
  // The command: only ESM, loaded by bin/unwind.js (a CommonJS copy would ship unused).
  { ...common, entry: { bin: 'src/bin.ts' }, format: ['esm'] },
]);
