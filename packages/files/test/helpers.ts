import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { cannotMount, mountTmpfs, runTypeScript, temporaryDirectory, treeState, type ChildOutcome } from '@unwind/core/testing';

/** The repository root, where `--import tsx` resolves. */
export const repoRoot = resolve(import.meta.dirname, '../../..');

export const isRoot = process.getuid?.() === 0;

/** A temp directory; `remove` is safe to call twice. */
export function tempDir(prefix = 'unwind-files-'): { path: string; remove: () => void } {
  return temporaryDirectory(prefix);
}

/** A sandbox tree for conformance checks: state is the whole tree. */
export function sandbox<A>(build: (dir: string) => A, extra: { partialDo?: (dir: string) => void; breakChange?: (dir: string) => void } = {}) {
  return async () => {
    const base = tempDir();
    const dir = join(base.path, 'sb');
    fs.mkdirSync(dir);
    const args = build(dir);
    return {
      args,
      state: async () => treeState(dir),
      cleanup: async () => base.remove(),
      ...(extra.partialDo ? { partialDo: async () => extra.partialDo!(dir) } : {}),
      ...(extra.breakChange ? { breakChange: async () => extra.breakChange!(dir) } : {}),
    };
  };
}

/** Runs a program (argv) synchronously; throws with its stderr when it fails. */
export function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Why mounts cannot be made here (root, in a private mount namespace or at least allowed), or false when they can. */
export function canMount(): string | false {
  return cannotMount('cannot mount tmpfs / bind mounts');
}

export { mountTmpfs };

/** Runs a TypeScript file in a child node process; resolves with how it ended. */
export function runChild(script: string, args: string[], options: { killAfterMs?: number; under?: readonly string[] } = {}): Promise<ChildOutcome> {
  return runTypeScript(script, args, { ...options, cwd: repoRoot });
}
