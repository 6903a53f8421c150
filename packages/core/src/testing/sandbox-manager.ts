/**
 * A private systemd user manager for tests and sandboxes: root's own
 * `systemd --user` with a HOME and XDG_RUNTIME_DIR of its own, as a child of
 * this process. The systemd tests start one per test worker; the examples'
 * sandbox runs start one for their `{ manager }` scope.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupSubtree, type CgroupSubtree } from './cgroup-subtree.js';

const SYSTEMD = '/lib/systemd/systemd';

/**
 * A running sandbox systemd user manager.
 *
 * @example
 * ```ts
 * const m = await startSandboxManager({ home, runtimeDir });
 * try { ... } finally { await m.stop(); }
 * ```
 */
export interface SandboxManager {
  home: string;
  runtimeDir: string;
  pid: number;
  /** Stops the manager (TERM, bounded wait, KILL) and unmounts the tmpfs. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Why a sandbox manager cannot be started in this process, or undefined when
 * it can. It mounts a tmpfs on /run/systemd, so it refuses to run outside a
 * private mount namespace (`UNWIND_IN_NAMESPACE=1`, set by whoever made it).
 *
 * @example
 * ```ts
 * const why = cannotStartSandboxManager();
 * if (why) console.warn(`no sandbox manager: ${why}`);
 * ```
 */
export function cannotStartSandboxManager(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: a sandbox systemd user manager needs a tmpfs on /run/systemd';
  if (process.env.UNWIND_IN_NAMESPACE !== '1') return 'not inside a private mount namespace (UNWIND_IN_NAMESPACE != 1); nothing is mounted on the host';
  if (!fs.existsSync(SYSTEMD)) return `${SYSTEMD} not found`;
  if (!fs.existsSync('/run/systemd')) return '/run/systemd does not exist to mount a tmpfs on';
  if (spawnSync('systemctl', ['--version'], { stdio: 'ignore' }).status !== 0) return 'systemctl not found';
  return undefined;
}

function run(argv: string[], env?: NodeJS.ProcessEnv, timeout = 10_000) {
  const [cmd, ...args] = argv as [string, ...string[]];
  return spawnSync(cmd, args, { env, timeout, encoding: 'utf8' });
}

/**
 * Starts `systemd --user` with its own HOME and XDG_RUNTIME_DIR, in a tmpfs
 * on /run/systemd (so systemctl believes systemd runs), and waits until it
 * answers `running`. The manager dies with this process (`setpriv
 * --pdeathsig KILL`). Only inside a private mount namespace.
 *
 * @example
 * ```ts
 * const m = await startSandboxManager({ home: '/tmp/sb/manager/home', runtimeDir: '/tmp/sb/manager/run' });
 * ```
 */
export async function startSandboxManager(options: { home: string; runtimeDir: string; log?: string; readyWithinMs?: number }): Promise<SandboxManager> {
  const reason = cannotStartSandboxManager();
  if (reason) throw new Error(`cannot start a sandbox systemd user manager: ${reason}`);
  const { home, runtimeDir } = options;
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  fs.mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(runtimeDir, 0o700);

  let mounted = false;
  let child: ChildProcess | undefined;
  let stopped = false;
  let subtree: CgroupSubtree | undefined;
  const killHard = () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killHard);
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
      child.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(10_000, undefined, { ref: false }).then(() => false)]))) {
        killHard();
        await Promise.race([exited, sleep(2000, undefined, { ref: false })]);
      }
    }
    if (mounted && run(['umount', '/run/systemd']).status !== 0) run(['umount', '-l', '/run/systemd']);
    // A manager that stopped has stopped its units; one killed leaves their processes: ended here.
    if (subtree) {
      let left = subtree.remove();
      for (let attempt = 0; left.length > 0 && attempt < 20; attempt++) {
        subtree.kill();
        await sleep(100);
        left = subtree.remove();
      }
      if (left.length > 0) throw new Error(`the sandbox user manager's cgroups could not be removed: ${left.join(', ')}`);
    }
  };
  process.on('exit', killHard);

  try {
    // Where systemd already runs (a machine with systemd as PID 1) systemctl needs no pretending,
    // and a tmpfs over /run/systemd would hide the real manager's sockets from everything else.
    if (!fs.existsSync('/run/systemd/system')) {
      const m = run(['mount', '-t', 'tmpfs', '-o', 'mode=755,size=16m', 'tmpfs', '/run/systemd']);
      if (m.status !== 0) throw new Error(`mount tmpfs on /run/systemd failed: ${m.stderr}`);
      mounted = true;
      fs.mkdirSync('/run/systemd/system', { recursive: true });
    }
    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home, XDG_RUNTIME_DIR: runtimeDir, LANG: 'C.UTF-8' };
    const out = options.log ? fs.openSync(options.log, 'a') : 'ignore';
    // Its own cgroup: a manager takes the one it starts in as its root, and on exit removes every
    // empty cgroup under it, another manager's units' included (see cgroup-subtree.ts).
    subtree = cgroupSubtree('unwind-user-manager');
    const argv = ['setpriv', '--pdeathsig', 'KILL', '--', SYSTEMD, '--user'];
    const [program, ...args] = (subtree ? subtree.wrap(argv) : argv) as [string, ...string[]];
    child = spawn(program, args, { env, stdio: ['ignore', out, out], cwd: home });
    if (typeof out === 'number') fs.closeSync(out);
    child.on('error', () => {});
    const clientEnv = { PATH: env.PATH, XDG_RUNTIME_DIR: runtimeDir, HOME: home, LC_ALL: 'C' };
    const deadline = Date.now() + (options.readyWithinMs ?? 20_000);
    let state = '';
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`systemd --user exited early (${child.exitCode ?? child.signalCode})`);
      state = run(['systemctl', '--user', 'is-system-running'], clientEnv, 5000).stdout?.trim() ?? '';
      if (state === 'running') break;
      await sleep(100);
    }
    if (state !== 'running') throw new Error(`systemd --user did not reach "running" (last answer: ${JSON.stringify(state)})`);
    return { home, runtimeDir, pid: child.pid!, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
