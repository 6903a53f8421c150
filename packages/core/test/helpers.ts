import { resolve } from 'node:path';
import { runTypeScript, temporaryDirectory, type ChildOutcome } from '@unwind/core/testing';

/** The repository root, where `--import tsx` resolves. */
export const repoRoot = resolve(import.meta.dirname, '../../..');

/** Runs a TypeScript file in a child node process (stdout discarded); resolves with how it ended. */
export function runChild(script: string, args: string[], options: { killAfterMs?: number } = {}): Promise<ChildOutcome> {
  return runTypeScript(script, args, { ...options, cwd: repoRoot, stdout: 'ignore' });
}

/** A temp directory removed after the test. */
export function tempDir(prefix = 'unwind-core-'): { path: string; remove: () => void } {
  return temporaryDirectory(prefix);
}
