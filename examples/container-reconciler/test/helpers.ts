/**
 * The sandbox the container reconciler's tests run in:
 *
 * - users and groups in a prefix root (real shadow tools with `-P`);
 * - linger through a stub `loginctl` that creates/removes files in the prefix's linger directory;
 * - the containers' units on a real systemd user manager (the systemd package's global
 *   setup starts one per test worker; a file uses its worker's), all in its unit directory
 *   (`target: shared`);
 * - the per-user managers (`user@UID.service` on the system manager, which does not run
 *   here) through a stub `systemctl` that keeps their state as files and logs every call:
 *   `startUserManager` runs its real argv against it, so start → wait → stop is exercised.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCommand, type CommandRunner, type CommandSpec } from '@unwind/core';
import { pool, runTypeScript, treeState, type ChildOutcome } from '@unwind/core/testing';
import { unitState } from '@unwind/systemd';
import type { ReconcilerConfig } from '../src/reconciler.js';
import { stubLoginctl, stubSystemctl } from '../src/sandbox.js';
import { workerManager } from '../../../packages/systemd/test/worker-manager.js';

export const repoRoot = resolve(import.meta.dirname, '../../..');
export const isRoot = process.getuid?.() === 0;
export const DB_FILES = ['passwd', 'group', 'shadow', 'gshadow'] as const;

/** Why the tests skip, or false. */
export function skipReason(): string | false {
  if (!isRoot) return 'not root: the real shadow tools (useradd -P) and the systemd user manager need root';
  return false;
}

export function manager() {
  const m = workerManager();
  return { scope: 'user' as const, home: m.home, runtimeDir: m.runtimeDir, unitDir: join(m.home, '.config/systemd/user') };
}

/** A unit that runs until stopped. */
export function sleeper(name: string): string {
  return `[Unit]\nDescription=container ${name}\n\n[Service]\nType=simple\nExecStart=/bin/sleep 600\n`;
}

/** Distinct container names per test: the user manager is shared by every test. */
export function names(...stems: string[]): string[] {
  const tag = randomBytes(3).toString('hex');
  return stems.map((s) => `t${tag}-${s}`);
}

export interface Sandbox {
  base: string;
  prefix: string;
  lingerDir: string;
  desiredDir: string;
  stateDir: string;
  /** State of the fake system manager: one file per active user@UID.service. */
  managersDir: string;
  loginctl: string;
  systemctl: string;
  config(extra?: Partial<ReconcilerConfig>): ReconcilerConfig;
  desire(name: string, content?: string): void;
  undesire(name: string): void;
  /** Runs a shadow tool against the prefix (test set-up). */
  sh(tool: string, ...args: string[]): Promise<string>;
  /** Everything the reconciler may change, for the given container names. */
  state(containers: readonly string[]): Promise<unknown>;
  cleanup(): Promise<void>;
}

const used = new Set<string>();

/** systemctl against the test manager, for set-up and clean-up. */
export async function sysctl(...args: string[]): Promise<string> {
  const m = manager();
  const res = await runCommand({ argv: ['systemctl', '--user', ...args], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', XDG_RUNTIME_DIR: m.runtimeDir, HOME: m.home }, timeoutMs: 15_000, okExitCodes: [0, 1, 3, 4, 5] });
  return res.stdout;
}

export function makeSandbox(): Sandbox {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-containers-'));
  const prefix = join(base, 'root');
  fs.mkdirSync(join(prefix, 'etc'), { recursive: true });
  fs.mkdirSync(join(prefix, 'home'));
  for (const f of [...DB_FILES, 'login.defs']) {
    fs.copyFileSync(`/etc/${f}`, join(prefix, 'etc', f));
    fs.chmodSync(join(prefix, 'etc', f), fs.statSync(`/etc/${f}`).mode & 0o7777);
  }
  const lingerDir = join(prefix, 'var/lib/systemd/linger');
  fs.mkdirSync(lingerDir, { recursive: true });
  const desiredDir = join(base, 'desired');
  fs.mkdirSync(desiredDir);
  const stateDir = join(base, 'state');
  const managersDir = join(base, 'system-manager');
  fs.mkdirSync(managersDir);
  const bin = join(base, 'bin');
  fs.mkdirSync(bin);
  const loginctl = join(bin, 'loginctl');
  fs.writeFileSync(loginctl, stubLoginctl(lingerDir), { mode: 0o755 });
  // Only what startUserManager and the drift check ask of the system manager, for user@UID.service.
  const systemctl = join(bin, 'systemctl');
  fs.writeFileSync(systemctl, stubSystemctl(managersDir), { mode: 0o755 });
  const m = manager();
  const mine = new Set<string>();
  const sandbox: Sandbox = {
    base, prefix, lingerDir, desiredDir, stateDir, managersDir, loginctl, systemctl,
    config: (extra = {}) => ({
      desiredDir, stateDir, prefix, lingerDir, loginctl, systemSystemctl: systemctl,
      target: { kind: 'shared', manager: m },
      commandTimeoutMs: 15_000, settleMs: 200, handleSignals: false,
      ...extra,
    }),
    desire: (name, content = sleeper(name)) => {
      mine.add(name);
      used.add(name);
      fs.writeFileSync(join(desiredDir, `${name}.service`), content);
    },
    undesire: (name) => fs.rmSync(join(desiredDir, `${name}.service`), { force: true }),
    // useradd -P still writes the running system's lastlog and faillog unless -l says not to.
    sh: async (tool, ...args) => (await runCommand({ argv: [tool, '-P', prefix, ...(tool === 'useradd' ? ['-l'] : []), ...args], timeoutMs: 15_000 })).stdout,
    state: async (containers) => {
      const units: Record<string, unknown> = {};
      for (const name of containers) {
        const path = join(m.unitDir, `${name}.service`);
        // LoadState is never empty in a real answer; under load a `systemctl show` racing the other
        // tests' daemon-reloads on the shared manager was seen to answer nothing (exit 0): ask again.
        let s = await unitState(`${name}.service`, 'user', { ...m, commandTimeoutMs: 15_000 });
        for (let attempt = 0; attempt < 5 && s.loadState === ''; attempt++) {
          await new Promise((r) => setTimeout(r, 200));
          s = await unitState(`${name}.service`, 'user', { ...m, commandTimeoutMs: 15_000 });
        }
        units[name] = { file: fs.existsSync(path) ? fs.readFileSync(path, 'utf8') : null, loadState: s.loadState, activeState: s.activeState };
      }
      return {
        db: Object.fromEntries(DB_FILES.map((f) => [f, fs.readFileSync(join(prefix, 'etc', f), 'utf8')])),
        home: treeState(join(prefix, 'home')),
        linger: treeState(lingerDir),
        managers: fs.readdirSync(managersDir).filter((n) => n !== 'calls.log').sort(),
        units,
      };
    },
    cleanup: async () => {
      for (const name of mine) {
        await sysctl('stop', '--', `${name}.service`);
        fs.rmSync(join(m.unitDir, `${name}.service`), { force: true });
        for (const stray of fs.existsSync(m.unitDir) ? fs.readdirSync(m.unitDir) : []) if (stray.includes(`${name}.service`)) fs.rmSync(join(m.unitDir, stray), { force: true });
      }
      if (mine.size) {
        await sysctl('daemon-reload');
        for (const name of mine) await sysctl('reset-failed', '--', `${name}.service`);
      }
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
  return sandbox;
}

/** How an injected command misbehaves. */
export type Fault = 'fail' | 'fail-after' | 'hang' | undefined;

/**
 * A command runner that runs the real program unless `fault` picks the call:
 * then it fails (exit 3, a message on stderr), runs the real program and
 * still reports a failure (`fail-after`: the worst case, the change was
 * made), or hangs until the call's own timeout kills it.
 */
export function faultyExec(fault: (argv: readonly string[]) => Fault): { exec: CommandRunner; injected: string[][] } {
  const injected: string[][] = [];
  const exec: CommandRunner = async (spec: CommandSpec) => {
    const f = fault(spec.argv);
    if (f === undefined) return runCommand(spec);
    injected.push([...spec.argv]);
    if (f === 'hang') return runCommand({ ...spec, argv: ['sh', '-c', 'exec sleep 30', ...spec.argv], killGraceMs: 200 });
    if (f === 'fail-after') await runCommand(spec);
    return runCommand({ ...spec, argv: ['sh', '-c', "echo 'injected failure' >&2; exit 3", ...spec.argv] });
  };
  return { exec, injected };
}

/** Runs a TypeScript file in a child node process (killed after two minutes, stale-lock warnings off). */
export function runChild(script: string, args: string[], options: { onSpawn?: (pid: number) => void } = {}): Promise<ChildOutcome> {
  return runTypeScript(script, args, { ...options, cwd: repoRoot, killAfterMs: 120_000 });
}

export { pool };
