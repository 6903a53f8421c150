/**
 * Starts real systemd user managers for the `user`-scope tests, one per test
 * worker of the run (a file uses the one of the worker running it, see
 * worker-manager.ts), so test files run side by side and each still sees a
 * unit directory and a default.target.wants no other file touches at the
 * same time: root's own `/lib/systemd/systemd --user`, with a private
 * XDG_RUNTIME_DIR and HOME, as a child. It runs inside the throw-away machine of `node scripts/test.mjs`,
 * where systemd is PID 1 (so /run/systemd/system exists and nothing needs
 * mounting); anywhere else the setup fails and says how to run the tests.
 * The other scopes (system, `{ user }` through user@UID.service) are tested
 * against the machine's own managers in units.machine.test.ts.
 *
 * The manager cannot outlive the run: it gets SIGKILL when this process dies
 * (setpriv --pdeathsig), on process exit, and in teardown (SIGTERM, bounded
 * wait, SIGKILL), whatever the tests did.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestProject } from 'vitest/node';
import { notInsideMachine } from '../../core/src/testing/machine.js';

export interface ManagerFixture {
  home: string;
  runtimeDir: string;
  pid: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** One manager per worker; index VITEST_POOL_ID - 1. */
    systemdManagers: ManagerFixture[];
  }
}

const SYSTEMD = '/lib/systemd/systemd';
const READY_WITHIN_MS = 20_000;

/** Why the manager cannot start here, or undefined. */
function missing(): string | undefined {
  const outside = notInsideMachine();
  if (outside) return `the systemd tests run inside the throw-away machine (systemd as PID 1): ${outside}`;
  if (!fs.existsSync(SYSTEMD)) return `${SYSTEMD} not found`;
  return undefined;
}

function run(argv: string[], env?: NodeJS.ProcessEnv, timeout = 10_000) {
  const [cmd, ...args] = argv as [string, ...string[]];
  return spawnSync(cmd, args, { env, timeout, encoding: 'utf8' });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const reason = missing();
  if (reason) throw new Error(reason);
  const started = await Promise.allSettled(Array.from({ length: workerCount(project) }, () => startManager()));
  const teardown = async () => {
    for (const manager of started) if (manager.status === 'fulfilled') await manager.value.teardown();
  };
  const failed = started.find((manager) => manager.status === 'rejected');
  if (failed) {
    await teardown();
    throw failed.reason;
  }
  project.provide('systemdManagers', started.map((manager) => (manager as PromiseFulfilledResult<{ fixture: ManagerFixture }>).value.fixture));
  return teardown;
}

/** Starts one manager and waits until it runs; rejects with the tail of its log. */
async function startManager(): Promise<{ fixture: ManagerFixture; teardown: () => Promise<void> }> {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-systemd-'));
  const home = join(base, 'home');
  const runtimeDir = join(base, 'run');
  fs.mkdirSync(home, { mode: 0o700 });
  fs.mkdirSync(runtimeDir, { mode: 0o700 });
  const log = join(base, 'manager.log');

  let child: ChildProcess | undefined;
  const killHard = () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  };
  process.on('exit', killHard);

  const teardown = async () => {
    process.off('exit', killHard);
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
      child.kill('SIGTERM'); // the manager stops its units and exits
      const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!done) {
        killHard();
        await Promise.race([exited, sleep(2000)]);
      }
    }
    fs.rmSync(base, { recursive: true, force: true });
  };

  try {

    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home, XDG_RUNTIME_DIR: runtimeDir, LANG: 'C.UTF-8' };
    const out = fs.openSync(log, 'a');
    const hasSetpriv = run(['setpriv', '--version']).status === 0;
    const argv = hasSetpriv ? ['setpriv', '--pdeathsig', 'KILL', '--', SYSTEMD, '--user'] : [SYSTEMD, '--user'];
    child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', out, out], cwd: home });
    fs.closeSync(out);
    child.on('error', () => {});

    const clientEnv = { PATH: env.PATH, XDG_RUNTIME_DIR: runtimeDir, HOME: home, LC_ALL: 'C' };
    const deadline = Date.now() + READY_WITHIN_MS;
    let state = '';
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`systemd --user exited early (${child.exitCode ?? child.signalCode})`);
      state = run(['systemctl', '--user', 'is-system-running'], clientEnv, 5000).stdout?.trim() ?? '';
      if (state === 'running') break;
      await sleep(100);
    }
    if (state !== 'running') throw new Error(`systemd --user did not reach "running" within ${READY_WITHIN_MS} ms (last: ${JSON.stringify(state)})`);
    return { fixture: { home, runtimeDir, pid: child.pid! }, teardown };
  } catch (error) {
    const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '';
    await teardown();
    throw new Error(`${(error as Error).message}\n--- manager log ---\n${text}`);
  }
}

/** How many test files of the project can run at once: vitest numbers their workers 1..this. */
function workerCount(project: TestProject): number {
  // A project without its own maxWorkers takes the run's (vitest.config.ts).
  return Math.max(1, project.config.maxWorkers || project.vitest.config.maxWorkers || 1);
}
