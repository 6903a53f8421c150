import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { childBundle } from './child-bundle.js';

// The generic pieces tests of several packages need: child processes for crash
// tests, bounded concurrency, temp dirs, and probes for root-only tools.

const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * The workspace root: the nearest directory at or above `from` holding
 * `pnpm-workspace.yaml`, or `from` itself when there is none. Children run
 * there so `--import tsx` and the tsconfig paths resolve.
 *
 * @example
 * ```ts
 * const root = workspaceRoot(); // the checkout's root, from anywhere below it
 * ```
 */
export function workspaceRoot(from: string = process.cwd()): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (fs.existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

/**
 * How a child process ended, as {@link runTypeScript} reports it.
 *
 * @example
 * ```ts
 * const child: ChildOutcome = await runTypeScript(join(import.meta.dirname, 'fixtures/child.ts'));
 * if (child.code !== 0) throw new Error(`child ended with ${child.signal ?? child.code}: ${child.stderr}`);
 * ```
 */
export interface ChildOutcome {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | null;
  /** Everything it wrote to stdout ('' when `stdout: 'ignore'`). */
  stdout: string;
  /** Everything it wrote to stderr. */
  stderr: string;
}

/**
 * Options of {@link runTypeScript}.
 *
 * @example
 * ```ts
 * let pid: number | undefined;
 * const options: RunTypeScriptOptions = { cwd: repoRoot, stdout: 'ignore', killAfterMs: 60_000, onSpawn: (p) => (pid = p) };
 * const child = await runTypeScript(script, [JSON.stringify(config)], options);
 * ```
 */
export interface RunTypeScriptOptions {
  /** Working directory; by default {@link workspaceRoot}, where `--import tsx` resolves. */
  cwd?: string;
  /** SIGKILL the child after this many milliseconds; by default it may run for ever. */
  killAfterMs?: number;
  /** The child's environment; by default this process's. */
  env?: NodeJS.ProcessEnv;
  /** `ignore` discards the child's stdout instead of collecting it. */
  stdout?: 'pipe' | 'ignore';
  /** Called with the child's pid as soon as it is spawned. */
  onSpawn?: (pid: number) => void;
  /** Modules the child imports before the script (`--import`), e.g. a recorder that patches `node:fs`; bundled like the script. */
  imports?: readonly string[];
  /** A command (argv) that runs node, e.g. `['unshare', '--mount', '--']` for a child with a mount namespace of its own. */
  under?: readonly string[];
}

/**
 * Runs a TypeScript file in a child node process and resolves with how it
 * ended (rejects only when it cannot be spawned). The usual parent of a crash
 * test: the child SIGKILLs itself mid-transaction. The file and each of its
 * `imports` are bundled once per process into one ES module each, which
 * start in a fraction of the time `node --import tsx` needs (when esbuild is
 * installed and none imports a module named at run time); otherwise they run
 * under `--import tsx`.
 *
 * @example
 * ```ts
 * const child = await runTypeScript(join(import.meta.dirname, 'fixtures/crash-child.ts'), [JSON.stringify(config)], { killAfterMs: 60_000 });
 * expect(child.signal).toBe('SIGKILL');
 * ```
 */
export async function runTypeScript(script: string, args: readonly string[] = [], options: RunTypeScriptOptions = {}): Promise<ChildOutcome> {
  const cwd = options.cwd ?? workspaceRoot();
  const argv = await childArguments(script, options.imports ?? [], workspaceRoot(cwd));
  return new Promise((done, fail) => {
    const command = [...(options.under ?? []), process.execPath, ...argv, ...args];
    const child = spawn(command[0]!, command.slice(1), {
      cwd,
      stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
    });
    if (child.pid) options.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

/**
 * node's arguments for a child: its preloads and the script each bundled (see
 * child-bundle.ts), or, when one of them cannot be, all of them under tsx.
 */
async function childArguments(script: string, imports: readonly string[], workspace: string): Promise<string[]> {
  const paths = imports.map((module) => (module.startsWith('file:') ? fileURLToPath(module) : module));
  const bundles = await Promise.all([script, ...paths].map((path) => childBundle(path, workspace)));
  if (bundles.every((bundle) => bundle !== undefined)) {
    const [main, ...preloads] = bundles as string[];
    return [...preloads.flatMap((preload) => ['--import', pathToFileURL(preload).href]), main!];
  }
  return ['--import', 'tsx', ...imports.flatMap((module) => ['--import', module]), script];
}

/**
 * Runs `work` over `items`, at most `limit` at a time, keeping the order of
 * results (e.g. one crash child per journal record, a few at once).
 *
 * @example
 * ```ts
 * const outcomes = await pool([1, 2, 3, 4], 2, (n) => crashAt(n));
 * ```
 */
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

/**
 * A temp directory under the OS temp dir; `remove` deletes it and is safe to
 * call twice.
 *
 * @example
 * ```ts
 * const dir = temporaryDirectory('unwind-files-');
 * afterEach(() => dir.remove());
 * ```
 */
export function temporaryDirectory(prefix = 'unwind-'): {
  /** The directory. */
  path: string;
  /** Deletes it and everything in it; safe to call twice. */
  remove: () => void;
} {
  const path = fs.mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => fs.rmSync(path, { recursive: true, force: true }) };
}

/**
 * Why a tmpfs cannot be mounted here (not root, or a trial mount fails), or
 * false when it can. `notRoot` completes the reason given to a non-root user.
 *
 * @example
 * ```ts
 * const noMount = cannotMount();
 * it('crosses a mount point', () => {
 *   requireHere(noMount, 'mounting a tmpfs'); // fails, never skips, where it cannot run
 * });
 * ```
 */
export function cannotMount(notRoot = 'cannot mount a tmpfs'): string | false {
  if (!isRoot()) return `not root: ${notRoot}`;
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

/**
 * Throws when `reason` says a test cannot run here (as returned by
 * {@link cannotMount}, {@link cannotChattr} or a test's own check), naming
 * what is missing: a test that cannot run must fail, never be skipped.
 *
 * @example
 * ```ts
 * const noMount = cannotMount();
 * it('crosses a mount point', () => {
 *   requireHere(noMount, 'mounting a tmpfs');
 * });
 * ```
 */
export function requireHere(reason: string | false, what: string): void {
  if (reason) throw new Error(`this test needs ${what}, which is missing here: ${reason}`);
}

/**
 * Mounts a tmpfs of `size` (mode 0755) at `dir`; returns the unmount function
 * (a lazy unmount, safe to call twice). Throws with mount's stderr on failure.
 *
 * @example
 * ```ts
 * const unmount = mountTmpfs(join(base, 'small'), '64k');
 * afterEach(unmount);
 * ```
 */
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

/**
 * Why `chattr +i` cannot be used in the temp directory (not root, or the
 * file system refuses it), or false when it can.
 *
 * @example
 * ```ts
 * it('an immutable file stops the update', () => {
 *   requireHere(cannotChattr(), 'chattr +i');
 * });
 * ```
 */
export function cannotChattr(): string | false {
  if (!isRoot()) return 'not root: cannot set the immutable attribute';
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

/**
 * Sets or clears the immutable attribute of `path`; throws with chattr's
 * stderr on failure.
 *
 * @example
 * ```ts
 * chattr('+i', file);
 * cleanups.push(() => chattr('-i', file));
 * ```
 */
export function chattr(flag: '+i' | '-i', path: string): void {
  const r = spawnSync('chattr', [flag, path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chattr ${flag} ${path}: ${r.stderr}`);
}

/**
 * The SHA-256 of each named file in `dir`, keyed by name: taken before and
 * after a test to prove it never touched the machine's own files. A file
 * that cannot be read throws, unless `unreadable` gives the value to record
 * for it instead.
 *
 * @example
 * ```ts
 * const machine = fileHashes('/etc', ['passwd', 'group']);
 * afterAll(() => expect(fileHashes('/etc', ['passwd', 'group'])).toEqual(machine));
 * ```
 */
export function fileHashes(dir: string, names: readonly string[], options: { unreadable?: string } = {}): Record<string, string> {
  const hash = (name: string) => {
    try {
      return createHash('sha256').update(fs.readFileSync(join(dir, name))).digest('hex');
    } catch (error) {
      if (options.unreadable === undefined) throw error;
      return options.unreadable;
    }
  };
  return Object.fromEntries(names.map((name) => [name, hash(name)]));
}
