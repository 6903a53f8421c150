import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cannotChattr, cannotMount, chattr, mountTmpfs, pool, runTypeScript, treeState, type ChildOutcome } from '@unwind/core/testing';
import { seedStateDirectory } from '../src/inventory.js';

/** The repository root: children run there so `--import tsx` and the tsconfig paths resolve. */
export const repoRoot = resolve(import.meta.dirname, '../../..');
export const isRoot = process.getuid?.() === 0;

/** A sandbox: `<base>/home/user/.memtomem` (seeded), the journal in `<base>/var/lib/unwind-uninstall`. */
export interface Sandbox {
  base: string;
  home: string;
  stateDir: string;
  journalRoot: string;
  /** Everything the uninstall may touch (the journal excluded). */
  state(): ReturnType<typeof treeState>;
  remove(): void;
}

export function makeSandbox(): Sandbox {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-uninstall-'));
  const home = join(base, 'home');
  const stateDir = join(home, 'user', '.memtomem');
  seedStateDirectory(stateDir);
  return {
    base,
    home,
    stateDir,
    journalRoot: join(base, 'var', 'lib', 'unwind-uninstall'),
    state: () => treeState(home),
    remove: () => fs.rmSync(base, { recursive: true, force: true }),
  };
}

/** Runs a TypeScript file in a child node process; resolves with how it ended. */
export function runChild(script: string, args: string[]): Promise<ChildOutcome> {
  return runTypeScript(script, args, { cwd: repoRoot });
}

export { cannotChattr, cannotMount, chattr, mountTmpfs, pool };
