import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { treeState } from '@unwind/core/testing';
import { seedCollection, seedRelease } from '../src/sample.js';

/** The repository root: children run there so `--import tsx` and the tsconfig paths resolve. */
export const repoRoot = resolve(import.meta.dirname, '../../..');
export const isRoot = process.getuid?.() === 0;

/** A sandbox: a collection at 1.0.0, a release 1.1.0, a journal root and a workspace root. */
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
  const source = join(base, 'upstream', 'release-1.1.0');
  seedCollection(collection);
  seedRelease(source);
  const workspaceRoot = join(base, 'tmp');
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
export function runChild(script: string, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

/** Runs `work` over `items`, at most `limit` at a time, keeping the order of results. */
export async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]!);
      }
    }),
  );
  return results;
}

/** Why mounts cannot be made here, or false when they can. */
export function cannotMount(): string | false {
  if (!isRoot) return 'not root: cannot mount a tmpfs';
  const probe = fs.mkdtempSync(join(tmpdir(), 'unwind-mount-probe-'));
  try {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { encoding: 'utf8' });
    if (r.status !== 0) return `mount failed: ${r.stderr.trim()}`;
    spawnSync('umount', [probe]);
    return false;
  } finally {
    fs.rmdirSync(probe);
  }
}

/** Mounts a tmpfs at `dir`; returns the unmount function (safe to call twice). */
export function mountTmpfs(dir: string, size = '16m'): () => void {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
  let mounted = true;
  return () => {
    if (!mounted) return;
    mounted = false;
    spawnSync('umount', ['-l', dir]);
  };
}

/** Why `chattr +i` cannot be used in the temp directory, or false when it can. */
export function cannotChattr(): string | false {
  if (!isRoot) return 'not root: cannot set the immutable attribute';
  const probe = fs.mkdtempSync(join(tmpdir(), 'unwind-chattr-probe-'));
  try {
    const r = spawnSync('chattr', ['+i', probe], { encoding: 'utf8' });
    if (r.status !== 0) return `chattr +i not supported here: ${r.stderr.trim()}`;
    spawnSync('chattr', ['-i', probe]);
    return false;
  } finally {
    fs.rmdirSync(probe);
  }
}

/** Sets or clears the immutable attribute. */
export function chattr(flag: '+i' | '-i', path: string): void {
  const r = spawnSync('chattr', [flag, path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chattr ${flag} ${path}: ${r.stderr}`);
}
