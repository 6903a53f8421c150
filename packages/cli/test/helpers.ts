import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runTypeScript, treeState } from '@unwind/core/testing';

/** The repository root: children run from here so `--import tsx` resolves. */
export const repoRoot = resolve(import.meta.dirname, '../../..');
/** The built `unwind` binary. Tests drive it as a subprocess, like a person would. */
export const BIN = join(repoRoot, 'packages/cli/dist/bin.js');
export const fixtures = join(import.meta.dirname, 'fixtures');

/** `--kinds` registering core's test kinds: the production command never registers them by itself. */
export const TEST_KINDS = ['--kinds', join(fixtures, 'test-kinds.mjs')] as const;

/** Fails loudly when the binary is missing or older than its sources: tests must never pass against a stale build. */
export function requireBuilt(): void {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is not built: run \`cd ${repoRoot} && npx --yes pnpm@10.34.8 build\` first`);
  const built = fs.statSync(BIN).mtimeMs;
  const srcDir = join(repoRoot, 'packages/cli/src');
  const stale = fs.readdirSync(srcDir, { recursive: true, withFileTypes: true }).find((e) => e.isFile() && fs.statSync(join(e.parentPath, e.name)).mtimeMs > built);
  if (stale) throw new Error(`${BIN} is older than src/${stale.name}: rebuild with \`npx --yes pnpm@10.34.8 build\``);
}

/** How a process ended. */
export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(argv: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

/** The environment children get: no colour or root settings leaking in from the caller's shell. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['NO_COLOR', 'FORCE_COLOR', 'UNWIND_ROOT', 'DEBUG', 'NODE_OPTIONS']) delete env[name];
  return { ...env, ...extra };
}

/** Runs `unwind ARGS` (the built binary) in `cwd` (default: the repository root); with `asNobody`, as uid/gid 65534 through setpriv. */
export function unwind(args: string[], options: { env?: NodeJS.ProcessEnv; asNobody?: boolean; cwd?: string } = {}): Promise<Ran> {
  const node = [process.execPath, BIN, ...args];
  const argv = options.asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node] : node;
  return run(argv, { env: cleanEnv(options.env), ...(options.cwd ? { cwd: options.cwd } : {}) });
}

/** Runs a TypeScript fixture in a child node process (through tsx). */
export function runFixture(name: string, args: string[]): Promise<Ran> {
  return runTypeScript(join(fixtures, name), args, { cwd: repoRoot, env: cleanEnv(), killAfterMs: 30_000 });
}

/** A temp directory with a sandbox (`sb`, holding an old a.conf) and a journal root path (`j`, not created). */
export function sandbox(): { base: string; dir: string; root: string; remove: () => void } {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-cli-'));
  const dir = join(base, 'sb');
  fs.mkdirSync(dir);
  fs.writeFileSync(join(dir, 'a.conf'), 'old a.conf\n');
  return { base, dir, root: join(base, 'j'), remove: () => fs.rmSync(base, { recursive: true, force: true }) };
}

/** Every file under a directory with its bytes, for "nothing changed" checks. */
export function snapshotBytes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    if (entry.isFile()) out[full.slice(dir.length)] = fs.readFileSync(full).toString('base64');
  }
  return out;
}

/** The only transaction directory under a journal root. */
export function onlyTransaction(root: string): string {
  const ids = fs.readdirSync(root).filter((n) => !n.endsWith('.lock'));
  if (ids.length !== 1) throw new Error(`expected one transaction under ${root}, found ${ids.join(', ')}`);
  return ids[0]!;
}

// eslint-disable-next-line no-control-regex
export const ANSI = /\x1b\[/;

const cleanups: Array<() => void> = [];
/** Registers a clean-up that runs after the current test (see {@link runCleanups}). */
export function onCleanup(action: () => void, first = false): void {
  if (first) cleanups.unshift(action);
  else cleanups.push(action);
}
/** Runs the registered clean-ups; call from afterEach. */
export function runCleanups(): void {
  for (const action of cleanups.splice(0)) {
    try {
      action();
    } catch (error) {
      console.warn('clean-up failed:', error);
    }
  }
}

/** A sandbox removed after the test. */
export function newSandbox() {
  const s = sandbox();
  onCleanup(s.remove);
  return s;
}

/** Runs the crash fixture: a 3-step transaction of real-disk markers that SIGKILLs itself after journal record N (or runs to its end). */
export async function killedAt(killAtRecord: number | undefined, extra: Record<string, unknown> = {}) {
  const s = newSandbox();
  const before = treeState(s.dir);
  const child = await runFixture('crash-child.ts', [JSON.stringify({ root: s.root, dir: s.dir, killAtRecord, ...extra })]);
  if (killAtRecord !== undefined && child.signal !== 'SIGKILL') throw new Error(`the crash child was not killed at record ${killAtRecord}: ${child.code} ${child.stderr}`);
  if (killAtRecord === undefined && child.code !== 0) throw new Error(`the crash child failed: ${child.stderr}`);
  const id = onlyTransaction(s.root);
  return { ...s, before, id, journal: join(s.root, id, 'journal.jsonl') };
}
