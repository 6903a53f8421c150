import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { treeState } from '@unwind/core/testing';

/** The repository root, where `--import tsx` resolves. */
export const repoRoot = resolve(import.meta.dirname, '../../..');

export const isRoot = process.getuid?.() === 0;

/** A temp directory; `remove` is safe to call twice. */
export function tempDir(prefix = 'unwind-files-'): { path: string; remove: () => void } {
  const path = fs.mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => fs.rmSync(path, { recursive: true, force: true }) };
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

/** Whether mounts can be made here (root, in a private mount namespace or at least allowed). */
export function canMount(): string | false {
  if (!isRoot) return 'not root: cannot mount tmpfs / bind mounts';
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

/** Mounts a tmpfs of `size` at `dir`; returns the unmount function (safe to call twice). */
export function mountTmpfs(dir: string, size: string): () => void {
  sh(['mount', '-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  let mounted = true;
  return () => {
    if (!mounted) return;
    mounted = false;
    spawnSync('umount', ['-l', dir]);
  };
}

/** Runs a TypeScript file in a child node process; resolves with how it ended. */
export function runChild(script: string, args: string[], options: { killAfterMs?: number } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}
