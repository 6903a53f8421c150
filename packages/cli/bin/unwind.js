#!/usr/bin/env node
// A committed launcher, so pnpm can link the `unwind` command at install time,
// before `dist/` is built (it warns and links nothing when the bin target is missing).
const built = new URL('../dist/bin.js', import.meta.url);
import(built.href).catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes(built.pathname)) {
    process.stderr.write('unwind: @unwind/cli is not built yet: run `npx --yes pnpm@10.34.8 build` in the repository\n');
    process.exit(70);
  }
  throw error;
});
