import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cannotChattr, cannotMount, chattr, mountTmpfs, pool, runTypeScript, treeState, type ChildOutcome } from '@unwind/core/testing';
import { seedCollection, seedUpstream } from '../src/sample.js';

/** The repository root: children run there so `--import tsx` and the tsconfig paths resolve. */
export const repoRoot = resolve(import.meta.dirname, '../../..');

/** A sandbox: the sample skillmeat collection, its local upstream directory, a journal root and a workspace root. */
export interface Sandbox {
  base: string;
  collection: string;
  source: string;
  journalRoot: string;
  workspaceRoot: string;
  /** The whole collection, as a comparable value. */
  state(): ReturnType<typeof treeState>;
  remove(): void;
}

export function makeSandbox(): Sandbox {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-collection-'));
  const collection = join(base, 'collection');
  const source = join(base, 'upstream');
  seedCollection(collection);
  seedUpstream(source);
  const workspaceRoot = join(base, 'work');
  fs.mkdirSync(workspaceRoot);
  return {
    base,
    collection,
    source,
    journalRoot: join(base, 'var', 'lib', 'unwind-collection'),
    workspaceRoot,
    state: () => treeState(collection),
    remove: () => fs.rmSync(base, { recursive: true, force: true }),
  };
}

/** Runs a TypeScript file in a child node process; resolves with how it ended. */
export function runChild(script: string, args: string[]): Promise<ChildOutcome> {
  return runTypeScript(script, args, { cwd: repoRoot });
}

export { cannotChattr, cannotMount, chattr, mountTmpfs, pool };
