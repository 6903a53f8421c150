import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupSubtree } from './cgroup-subtree.js';
import { machineInitScript } from './machine-init.js';

// A throw-away machine: a real systemd system manager as PID 1 of private PID,
// mount, cgroup, UTS, IPC and network namespaces, on an overlay of `/` whose
// upper layer is a tmpfs. Real journald, dbus, logind, user@UID.service; every
// write vanishes with it. See machine-init.ts for how its root is built.
//
// It cannot outlive the process that booted it: `unshare` gets SIGKILL when
// that process dies (setpriv --pdeathsig), and `unshare --kill-child` then
// SIGKILLs the machine's PID 1, which takes every process of the PID namespace
// with it; the mounts live only in the machine's mount namespace, which dies
// with its last process.

/** The glibc SIGRTMIN is 34; systemd powers off on SIGRTMIN+4 (SIGTERM would re-execute it). */
const SIGNAL_POWER_OFF = 34 + 4;
/** The `container=` value the machine's init script gives systemd (machine-init.ts), which systemd writes to /run/systemd/container. */
const MACHINE_CONTAINER = 'unwind-machine';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Options of {@link bootMachine}.
 *
 * @example
 * ```ts
 * const options: MachineOptions = { bind: [workspaceRoot()], name: 'unwind-test' };
 * const machine = await bootMachine(options);
 * ```
 */
export interface MachineOptions {
  /** Host paths bound into the machine at the same path (e.g. the repository under test). */
  bind?: readonly string[];
  /** The machine's host name; `unwind-machine` by default. */
  name?: string;
  /** The system manager binary; `/lib/systemd/systemd` by default. */
  systemd?: string;
  /** How long boot may take before {@link bootMachine} gives up; 60 s by default. */
  readyWithinMs?: number;
  /** A host file that receives PID 1's console output; discarded by default. */
  consoleLog?: string;
}

/**
 * How to run one command inside a {@link Machine}.
 *
 * @example
 * ```ts
 * const options: MachineCommandOptions = { env: { CI: '1' }, cwd: '/srv/checkout' };
 * machine.run(['systemctl', 'is-active', 'dbus.service'], options);
 * ```
 */
export interface MachineCommandOptions {
  /** Added to a clean environment (PATH, HOME=/root, LANG=C.UTF-8). Nothing of the caller's leaks in. */
  env?: Readonly<Record<string, string>>;
  /** Working directory inside the machine; `/` by default. */
  cwd?: string;
  /** Kill the command after this many milliseconds; 60 s by default for {@link Machine.run}. */
  timeoutMs?: number;
}

/**
 * A booted throw-away machine, from {@link bootMachine}.
 *
 * @example
 * ```ts
 * const machine = await bootMachine({ bind: [workspaceRoot()] });
 * try {
 *   const id = machine.run(['id', '-u', 'root']);
 *   expect(id.stdout.trim()).toBe('0');
 * } finally {
 *   await machine.stop();
 * }
 * ```
 */
export interface Machine {
  /** The host's pid of the machine's PID 1 (systemd). */
  readonly pid: number;
  /** What `systemctl is-system-running --wait` said when boot finished: `running` or `degraded`. */
  readonly bootState: string;
  /**
   * The cgroup directories it runs in, one per hierarchy systemd uses (its
   * own, removed by {@link Machine.stop}); empty where none could be made.
   */
  readonly cgroups: readonly string[];
  /**
   * The host argv that runs `argv` inside the machine (nsenter into all its
   * namespaces, a clean environment): for callers that spawn it themselves,
   * e.g. with inherited stdio.
   */
  commandLine(argv: readonly string[], options?: MachineCommandOptions): string[];
  /** Runs `argv` inside the machine and waits for it; never throws for a non-zero exit. */
  run(argv: readonly string[], options?: MachineCommandOptions): SpawnSyncReturns<string>;
  /**
   * Powers the machine off (SIGRTMIN+4 to its PID 1), waits, kills what is
   * left, then verifies that no process of its namespaces is left; throws
   * {@link MachineLeftoverError} otherwise. Safe to call twice.
   */
  stop(): Promise<void>;
}

/**
 * The longest {@link Machine.stop} takes, in milliseconds: 20 s for the
 * machine to power off, 5 s more after SIGKILL, 5 s for the kernel to reap
 * the namespace's processes, and the removal of its files. A test hook that
 * stops a machine needs at least this as its timeout: under vitest's default
 * of 10 s a slow power-off fails the file after every test in it passed.
 *
 * @example
 * ```ts
 * afterAll(() => machine?.stop(), MACHINE_STOP_WITHIN_MS);
 * ```
 */
export const MACHINE_STOP_WITHIN_MS = 40_000;

/**
 * The machine did not boot: what failed and the tail of its console.
 *
 * @example
 * ```ts
 * try { await bootMachine({ systemd: '/nowhere/systemd' }); }
 * catch (error) { if (error instanceof MachineBootError) console.error(error.context.console); }
 * ```
 */
export class MachineBootError extends Error {
  override readonly name = 'MachineBootError';
  readonly code = 'MACHINE_BOOT';
  constructor(
    message: string,
    readonly context: { systemd: string; console: string },
  ) {
    super(message);
  }
}

/**
 * Processes of a stopped machine's namespaces are still alive, or the
 * cgroups it ran in could not be removed.
 *
 * @example
 * ```ts
 * try { await machine.stop(); }
 * catch (error) { if (error instanceof MachineLeftoverError) console.error(error.context.pids); }
 * ```
 */
export class MachineLeftoverError extends Error {
  override readonly name = 'MachineLeftoverError';
  readonly code = 'MACHINE_LEFTOVER';
  constructor(readonly context: { namespaces: string[]; pids: number[]; cgroups?: string[] }) {
    super(context.pids.length > 0 ? `processes of the stopped machine are still alive: ${context.pids.join(', ')}` : `cgroups of the stopped machine could not be removed: ${(context.cgroups ?? []).join(', ')}`);
  }
}

/**
 * Why a throw-away machine cannot boot here, or false when it can: it needs
 * root, `unshare`, `nsenter`, `setpriv` and the system manager binary.
 *
 * @example
 * ```ts
 * const reason = cannotBootMachine();
 * if (reason) throw new Error(`the machine tests need: ${reason}`);
 * ```
 */
export function cannotBootMachine(systemd = '/lib/systemd/systemd'): string | false {
  if (process.getuid?.() !== 0) return 'not root: a machine needs new namespaces and mounts';
  for (const tool of ['unshare', 'nsenter', 'setpriv']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0) return `${tool} (util-linux) not found`;
  }
  if (!fs.existsSync(systemd)) return `${systemd} not found (Debian package systemd)`;
  return false;
}

/**
 * Why this process is not inside a throw-away machine booted by
 * {@link bootMachine}, or false when it is. A test that changes the machine
 * it runs on (real users in /etc/passwd, system units, linger) calls it first
 * and fails with the reason anywhere else: on any other system it would
 * change that system. The machine's systemd records its container name in
 * /run/systemd/container; the test runner marks its processes with
 * UNWIND_IN_MACHINE=1.
 *
 * @example
 * ```ts
 * const outside = notInsideMachine();
 * if (outside) throw new Error(`these tests create real users: ${outside}`);
 * ```
 */
export function notInsideMachine(): string | false {
  const how = 'run the tests with `node scripts/test.mjs` as root, which boots one';
  if (process.env.UNWIND_IN_MACHINE !== '1') return `not inside the throw-away machine (UNWIND_IN_MACHINE is not 1): ${how}`;
  let container = '';
  try {
    container = fs.readFileSync('/run/systemd/container', 'utf8').trim();
  } catch {
    // no systemd-managed container at all
  }
  if (container !== MACHINE_CONTAINER) return `UNWIND_IN_MACHINE is set, but this is not a throw-away machine (/run/systemd/container says ${JSON.stringify(container)}, not ${JSON.stringify(MACHINE_CONTAINER)}): ${how}`;
  return false;
}

/** The namespace ids (`mnt:[…]`, `pid:[…]`) of a process, to find what is left of them later. */
function namespacesOf(pid: number): string[] {
  return ['mnt', 'pid'].map((kind) => fs.readlinkSync(`/proc/${pid}/ns/${kind}`));
}

/** Host pids of every process in any of `namespaces`. */
function processesIn(namespaces: readonly string[]): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    for (const kind of ['mnt', 'pid']) {
      try {
        if (namespaces.includes(fs.readlinkSync(`/proc/${entry}/ns/${kind}`))) {
          found.push(Number(entry));
          break;
        }
      } catch {
        // the process ended while we looked
      }
    }
  }
  return found;
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/**
 * Boots a throw-away machine (about a second) and resolves when its boot has
 * finished (`systemctl is-system-running --wait` says `running` or
 * `degraded`). Rejects with {@link MachineBootError} if it does not.
 *
 * @example
 * ```ts
 * const machine = await bootMachine({ bind: [workspaceRoot()] });
 * machine.run(['useradd', '-m', 'alice']); // only the machine's /etc/passwd changes
 * await machine.stop();
 * ```
 */
export async function bootMachine(options: MachineOptions = {}): Promise<Machine> {
  const systemd = options.systemd ?? '/lib/systemd/systemd';
  const reason = cannotBootMachine(systemd);
  if (reason) throw new MachineBootError(`cannot boot a machine: ${reason}`, { systemd, console: '' });
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-machine-'));
  const consoleLog = options.consoleLog ?? join(base, '..', `${base.split('/').pop()}.console`);
  const out = fs.openSync(consoleLog, 'a');
  // Its own cgroup: the new cgroup namespace is rooted there, so its system manager never shares a
  // unit's cgroup with the one it runs under (see cgroup-subtree.ts).
  const subtree = cgroupSubtree('unwind-machine');
  // Commands run in it from outside (nsenter keeps the caller's cgroup) go to a cgroup of its tree:
  // what they start (a user manager, a machine in the machine) then gets a cgroup under theirs.
  const commands = subtree?.child('unwind-commands');
  const argv = [
    'setpriv', '--pdeathsig', 'KILL', '--',
    'unshare', '--pid', '--fork', '--kill-child', '--mount', '--cgroup', '--uts', '--ipc', '--net', '--',
    'bash', '-c', machineInitScript, 'unwind-machine-init', base, options.name ?? 'unwind-machine', systemd, ...(options.bind ?? []),
  ];
  const [program, ...programArgs] = (subtree ? subtree.wrap(argv) : argv) as [string, ...string[]];
  const unshare = spawn(program, programArgs, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  unshare.on('error', () => {});
  const exited = new Promise<void>((resolve) => unshare.once('exit', () => resolve()));
  const consoleTail = () => {
    try {
      return fs.readFileSync(consoleLog, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };

  let pid = 0;
  let namespaces: string[] = [];
  let stopped = false;
  const commandLine = (argv: readonly string[], command: MachineCommandOptions = {}) => {
    const entered = [
      'nsenter', '-t', String(pid), '-a', `--wdns=${command.cwd ?? '/'}`,
      'env', '-i', `PATH=${DEFAULT_PATH}`, 'HOME=/root', 'LANG=C.UTF-8',
      ...Object.entries(command.env ?? {}).map(([name, value]) => `${name}=${value}`),
      ...argv,
    ];
    return commands ? commands.wrap(entered) : entered;
  };
  const run = (argv: readonly string[], command: MachineCommandOptions = {}) => {
    const [program, ...args] = commandLine(argv, command) as [string, ...string[]];
    return spawnSync(program, args, { encoding: 'utf8', timeout: command.timeoutMs ?? 60_000, killSignal: 'SIGKILL' });
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (running(unshare)) {
      if (pid) {
        try {
          process.kill(pid, SIGNAL_POWER_OFF);
        } catch {
          // PID 1 is gone already
        }
      }
      // The three waits here and the reaping below stay within MACHINE_STOP_WITHIN_MS.
      const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
      if (!done) {
        // SIGKILL to the namespace's PID 1 from outside kills every process in it.
        for (const target of [pid, unshare.pid]) {
          try {
            if (target) process.kill(target, 'SIGKILL');
          } catch {
            // gone already
          }
        }
        await Promise.race([exited, sleep(5000)]);
      }
    }
    // The kernel reaps the rest of a dead PID namespace asynchronously: give it a moment.
    let left: number[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      left = namespaces.length ? processesIn(namespaces) : [];
      if (left.length === 0) break;
      await sleep(100);
    }
    fs.rmSync(base, { recursive: true, force: true });
    if (!options.consoleLog) fs.rmSync(consoleLog, { force: true });
    if (left.length) throw new MachineLeftoverError({ namespaces, pids: left });
    // Its processes are gone; a cgroup the kernel still tears down is tried again for a moment.
    let cgroupsLeft = subtree?.remove() ?? [];
    for (let attempt = 0; cgroupsLeft.length > 0 && attempt < 20; attempt++) {
      await sleep(100);
      cgroupsLeft = subtree!.remove();
    }
    if (cgroupsLeft.length) throw new MachineLeftoverError({ namespaces, pids: [], cgroups: cgroupsLeft });
  };

  try {
    const readyWithinMs = options.readyWithinMs ?? 60_000;
    const deadline = Date.now() + readyWithinMs;
    // PID 1 runs the init script first; it is the machine once it has become systemd.
    while (Date.now() < deadline) {
      if (!running(unshare)) throw new Error(`the machine ended during boot (${unshare.exitCode ?? unshare.signalCode})`);
      const child = Number(fs.readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8').trim().split(/\s+/)[0] || 0);
      if (child && fs.readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'systemd') {
        pid = child;
        break;
      }
      await sleep(50);
    }
    if (!pid) throw new Error(`PID 1 did not become ${systemd} within ${readyWithinMs} ms`);
    namespaces = namespacesOf(pid);
    let state = '';
    while (Date.now() < deadline) {
      if (!running(unshare)) throw new Error(`the machine ended during boot (${unshare.exitCode ?? unshare.signalCode})`);
      const remaining = Math.max(1000, deadline - Date.now());
      state = run(['systemctl', 'is-system-running', '--wait'], { timeoutMs: remaining }).stdout?.trim() ?? '';
      if (state === 'running' || state === 'degraded') break;
      await sleep(100);
    }
    if (state !== 'running' && state !== 'degraded') throw new Error(`boot did not finish within ${readyWithinMs} ms (last state: ${JSON.stringify(state)})`);
    return { pid, bootState: state, cgroups: subtree?.directories ?? [], commandLine, run, stop };
  } catch (error) {
    const text = consoleTail();
    await stop().catch(() => {});
    throw new MachineBootError(`the machine did not boot: ${(error as Error).message}`, { systemd, console: text });
  }
}
