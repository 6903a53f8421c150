// How a test starts a TypeScript program inside a throw-away machine: bundled once into one ES
// module by the bundler runTypeScript uses for crash children (the same sources and path
// aliases, every module's own import.meta), so each start costs plain `node` (~1 s on a loaded
// machine) instead of `node --import tsx` (~3-5 s). The bundle is copied into a directory the
// machine sees (its /tmp is its own); a program that cannot be bundled runs under tsx.
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
// Not a public export of core: a test-only bundler, kept out of @unwind/core/testing's API.
import { childBundle } from '../../../packages/core/src/testing/child-bundle.js';
import { repoRoot } from './machine-desired.js';

/** The node arguments that run `script` in a machine that binds `directory`: the bundle copied there, or tsx on the source. */
export async function machineStart(script: string, directory: string): Promise<string[]> {
  const bundle = await childBundle(script, repoRoot);
  if (!bundle) return ['--import', 'tsx', script];
  const copy = join(directory, `${basename(script, '.ts')}.mjs`);
  fs.copyFileSync(bundle, copy);
  return [copy];
}
