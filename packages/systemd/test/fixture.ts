import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type CommandRunner, type CommandSpec } from '@unwind/core';
import { treeState } from '@unwind/core/testing';
import { unitState, type ManagerOptions } from '../src/index.js';
import type { ManagerFixture } from './global-setup.js';
import { workerManager } from './worker-manager.js';

/** The user manager the global setup started for this test worker. */
export function managerFixture(): ManagerFixture {
  return workerManager();
}

/** Manager options aimed at the test user manager (never the real root home). */
export function userManager(extra: Partial<ManagerOptions> = {}): ManagerOptions {
  const m = managerFixture();
  return { scope: 'user', home: m.home, runtimeDir: m.runtimeDir, unitDir: join(m.home, '.config/systemd/user'), commandTimeoutMs: 15_000, ...extra };
}

/** A unit name no other test uses. */
export function uniqueUnit(prefix: string, suffix = 'service'): string {
  return `unwind-test-${prefix}-${randomBytes(4).toString('hex')}.${suffix}`;
}

/** A long-running simple service that can be enabled (WantedBy=default.target). */
export function sleeperUnit(description = 'unwind test sleeper'): string {
  return `[Unit]\nDescription=${description}\n\n[Service]\nType=simple\nExecStart=/bin/sleep 600\n\n[Install]\nWantedBy=default.target\n`;
}

/** Everything a step may change: the user's systemd config tree and the unit's state. */
export async function snapshot(unit: string, options: ManagerOptions = userManager()): Promise<unknown> {
  const home = options.home!;
  const trees: Record<string, unknown> = {};
  for (const rel of ['.config', '.local']) {
    const dir = join(home, rel);
    trees[rel] = fs.existsSync(dir) ? treeState(dir) : null;
  }
  return { trees, state: await unitState(unit, options.scope, options) };
}

/** systemctl for test set-up and clean-up, against the test manager. */
export async function sysctl(...args: string[]): Promise<string> {
  const m = managerFixture();
  const res = await runCommand({
    argv: ['systemctl', '--user', ...args],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', XDG_RUNTIME_DIR: m.runtimeDir, HOME: m.home },
    timeoutMs: 15_000,
    okExitCodes: [0, 1, 3, 4, 5],
  });
  return res.stdout;
}

/** Removes every trace of a unit: stops it, unmasks, disables, deletes its files, reloads. */
export async function purgeUnit(unit: string): Promise<void> {
  const options = userManager();
  await sysctl('stop', '--', unit);
  await sysctl('unmask', '--', unit);
  await sysctl('disable', '--', unit);
  const home = options.home!;
  for (const dir of [join(home, '.config/systemd/user'), join(home, '.local/share/systemd/user')]) {
    fs.rmSync(join(dir, unit), { force: true });
  }
  await sysctl('daemon-reload');
  await sysctl('reset-failed', '--', unit);
  for (const rel of ['.config', '.local']) fs.rmSync(join(home, rel), { recursive: true, force: true });
}

/** Installs a unit file directly (test set-up, not through a step). */
export async function placeUnit(unit: string, content: string, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(join(dir, unit), content);
  await sysctl('daemon-reload');
}

/** A failure to inject into the Nth systemctl call whose verb is `verb`. */
export interface Injection {
  verb: string;
  /** 1-based: which matching call fails. Default 1. */
  nth?: number;
  /**
   * `fail`: exits 3 with a message on stderr (a lasting failure, never retried);
   * `hang`: sleeps past a 400 ms timeout; `transient`: exits 1 saying what
   * systemctl says when its bus connection dropped; `unanswered`: what
   * `is-system-running` prints when its query of the manager failed
   * (`unknown`, exit 1).
   */
  mode: 'fail' | 'hang' | 'transient' | 'unanswered';
  /** How many matching calls in a row, from the nth, are injected. Default 1. */
  times?: number;
}

const STUBS: Record<Injection['mode'], string> = {
  fail: '#!/bin/sh\necho "injected failure: $*" >&2\nexit 3\n',
  hang: '#!/bin/sh\necho "hanging: $*" >&2\nexec sleep 30\n',
  transient: '#!/bin/sh\necho "Failed to connect to bus: Transport endpoint is not connected" >&2\nexit 1\n',
  unanswered: '#!/bin/sh\necho "Failed to query system state: Transport endpoint is not connected" >&2\necho unknown\nexit 1\n',
};

/**
 * A command runner that runs the real program, except for the chosen call,
 * which runs a stub named `systemctl` (same arguments) that fails or hangs.
 * The stub's argv, exit code and stderr then show up in the report.
 */
export function injectingExec(injection: Injection): { exec: CommandRunner; calls: string[][]; cleanup: () => void } {
  const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-systemd-stub-'));
  const stub = join(dir, 'systemctl');
  fs.writeFileSync(stub, STUBS[injection.mode], { mode: 0o755 });
  let seen = 0;
  const calls: string[][] = [];
  const exec: CommandRunner = (spec: CommandSpec) => {
    calls.push([...spec.argv]);
    const first = injection.nth ?? 1;
    if (spec.argv.includes(injection.verb) && ++seen >= first && seen < first + (injection.times ?? 1)) {
      return runCommand({ ...spec, argv: [stub, ...spec.argv.slice(1)], ...(injection.mode === 'hang' ? { timeoutMs: 400, killGraceMs: 200 } : {}) });
    }
    return runCommand(spec);
  };
  return { exec, calls, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
