import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tsup.library.js';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

const common = {
  ...libraryBuild,
  // The build script empties dist/ first: two builds write here at once, so neither may clean it.
  clean: false,
  define: { __UNWIND_CLI_VERSION__: JSON.stringify(version) },
  // import.meta.url in the CommonJS build: guardModuleLoading finds its hooks file by it.
  shims: true,
} as const;

export default defineConfig([
  // The library: ESM and CommonJS, with types.
  { ...common, entry: { index: 'src/index.ts' } },
  // The command: only ESM, loaded by bin/unwind.js (a CommonJS copy would ship unused).
  { ...common, entry: { bin: 'src/bin.ts' }, format: ['esm'], dts: false },
  // The module hooks guardModuleLoading registers, loaded by URL on Node's hooks thread, from either build.
  { ...common, entry: { 'module-trust-hooks': 'src/module-trust-hooks.ts' }, format: ['esm'], dts: false },
]);
