import type * as ChildProcess from 'node:child_process';
import type * as FileSystem from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { realPathOfCall } from './descriptor-paths.js';
import { spawnedName } from './spawned-name.js';

/** The system calls strace watches inside a command: every one that can change a file. */
export const TRACED_SYSCALLS = [
  'open', 'openat', 'creat', 'write', 'pwrite64', 'writev', 'pwritev', 'rename', 'renameat', 'renameat2', 'link', 'linkat',
  'symlink', 'symlinkat', 'unlink', 'unlinkat', 'mkdir', 'mkdirat', 'rmdir', 'chown', 'fchown', 'fchownat', 'lchown',
  'chmod', 'fchmod', 'fchmodat', 'truncate', 'ftruncate', 'fsync', 'fdatasync', 'utimensat', 'fsetxattr', 'setxattr', 'lsetxattr',
] as const;

/** How {@link installKillCounter} is told what to count and where to kill. */
export interface KillCounterOptions {
  /** Absolute directories: only operations under them count. */
  roots: string[];
  /** SIGKILL this process right after the operation with this number (1-based). */
  killAt?: number;
  /** Kill inside the command with this number (1-based, over every command run): strace kills it at the `when`-th call of `syscall`. */
  killInside?: { command: number; syscall: string; when: number };
  /** Basenames of the programs whose inside is traced (counting run) or can be killed into. */
  traced: string[];
  /** System calls traced inside them beside {@link TRACED_SYSCALLS} (e.g. `sendmsg` of a D-Bus client). */
  tracedSyscalls?: string[];
  /** A directory: before the first file-system call that may change something under a root, write `ready` there and wait for `go` (so a kill from outside can be timed from the transaction's start, not the process's). */
  gate?: string;
  /** Where the counting run writes `operations.jsonl` and one `command-N.strace` per traced command, and any run writes `killed.txt`. */
  reportDirectory: string;
}

/**
 * Replaces the mutating synchronous functions of `node:fs` and `spawn` of
 * `node:child_process` with counting wrappers (see kill-preload.ts). Counted:
 * an open that may write, write, truncate, rename, link, symlink, unlink,
 * rmdir, rm, mkdir, mkdtemp, chmod, chown, utimes, copyFile, fsync and
 * fdatasync — on a path under a root, or a descriptor opened there — and the
 * exit of each command. Only outermost calls count (writeFileSync calling
 * writeSync is one operation).
 */
export function installKillCounter(fs: typeof FileSystem, childProcess: typeof ChildProcess, options: KillCounterOptions): void {
  const real = { ...fs } as typeof FileSystem;
  const roots = options.roots.map((r) => resolve(r));
  // The counter's own files (its report, the gate) are never counted, even inside a root: node's
  // appendFileSync opens through the exported openSync, so counting them would count the count.
  const own = [options.reportDirectory, ...(options.gate ? [options.gate] : [])].map((d) => resolve(d));
  const under = (absolute: string, directory: string) => absolute === directory || absolute.startsWith(`${directory}/`);
  const inside = (path: unknown) => {
    if (typeof path !== 'string' && !(path instanceof URL) && !Buffer.isBuffer(path)) return false;
    const absolute = realPathOfCall(path instanceof URL ? path.pathname : String(path), real.readlinkSync);
    return roots.some((root) => under(absolute, root)) && !own.some((directory) => under(absolute, directory));
  };
  const counting = options.killAt === undefined && options.killInside === undefined;
  const operationsFile = join(options.reportDirectory, 'operations.jsonl');
  let count = 0;
  const die = (label: string) => {
    real.writeFileSync(join(options.reportDirectory, 'killed.txt'), label);
    process.kill(process.pid, 'SIGKILL');
  };
  let lastOperationAt = 0;
  const counted = (label: string) => {
    count++;
    lastOperationAt = Date.now();
    if (counting) real.appendFileSync(operationsFile, `${JSON.stringify({ operation: count, label })}\n`);
    else if (count === options.killAt) die(`after operation ${count}: ${label}`);
  };

  let gateOpen = options.gate === undefined;
  const waitAtGate = () => {
    gateOpen = true;
    const gate = options.gate!;
    real.writeFileSync(join(gate, 'ready'), '');
    // The span ends at the transaction's last change under a root, not at the process's exit: node's
    // teardown after it is no part of the transaction, and on a busy machine it can be most of the span.
    process.on('exit', () => real.writeFileSync(join(gate, 'end'), String(lastOperationAt || Date.now())));
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (!real.existsSync(join(gate, 'go'))) Atomics.wait(pause, 0, 0, 2);
  };

  const descriptors = new Map<number, string>();
  let depth = 0;
  const wrap = (name: string, touches: (args: unknown[], result: unknown) => string | undefined) => {
    const original = (real as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!;
    (fs as unknown as Record<string, unknown>)[name] = function (...args: unknown[]) {
      if (depth > 0) return original(...args);
      // The gate: the first call that may change something under a root (an open for reading does not).
      if (!gateOpen && (inside(args[0]) || inside(args[1]) || descriptors.has(args[0] as number)) && (name !== 'openSync' || mayWrite(args[1] ?? 'r'))) waitAtGate();
      depth++;
      let result: unknown;
      try {
        result = original(...args);
      } finally {
        depth--;
      }
      const where = touches(args, result);
      if (where !== undefined) counted(`${name} ${where}`);
      return result;
    };
  };
  const path = (index: number) => (args: unknown[]) => (inside(args[index]) ? String(args[index]) : undefined);
  const eitherPath = (args: unknown[]) => (inside(args[0]) || inside(args[1]) ? `${String(args[0])} -> ${String(args[1])}` : undefined);
  const descriptor = (args: unknown[]) => descriptors.get(args[0] as number);
  const pathOrDescriptor = (args: unknown[]) => (typeof args[0] === 'number' ? descriptor(args) : path(0)(args));

  const c = real.constants;
  const writeFlags = c.O_WRONLY | c.O_RDWR | c.O_CREAT | c.O_TRUNC | c.O_APPEND;
  const mayWrite = (flags: unknown) => (typeof flags === 'number' ? (flags & writeFlags) !== 0 : typeof flags === 'string' && flags !== 'r' && flags !== 'rs');
  wrap('openSync', (args, fd) => {
    if (!inside(args[0])) return undefined;
    descriptors.set(fd as number, String(args[0]));
    return mayWrite(args[1] ?? 'r') ? String(args[0]) : undefined;
  });
  const close = real.closeSync;
  (fs as unknown as Record<string, unknown>).closeSync = (fd: number) => {
    descriptors.delete(fd);
    return close(fd);
  };
  for (const name of ['writeSync', 'ftruncateSync', 'fchmodSync', 'fchownSync', 'futimesSync', 'fsyncSync', 'fdatasyncSync']) wrap(name, descriptor);
  for (const name of ['writeFileSync', 'appendFileSync']) wrap(name, pathOrDescriptor);
  for (const name of ['truncateSync', 'unlinkSync', 'rmdirSync', 'rmSync', 'mkdirSync', 'chmodSync', 'chownSync', 'lchownSync', 'utimesSync', 'lutimesSync']) wrap(name, path(0));
  wrap('mkdtempSync', (_args, made) => (inside(made) ? String(made) : undefined));
  for (const name of ['linkSync', 'symlinkSync', 'copyFileSync', 'cpSync']) wrap(name, path(1));
  wrap('renameSync', eitherPath);

  // Commands: the end of each is an operation; a traced one runs under strace.
  const spawn = childProcess.spawn;
  let commands = 0;
  childProcess.spawn = function (this: unknown, ...args: unknown[]) {
    const number = ++commands;
    const program = String(args[0]);
    const argv = Array.isArray(args[1]) ? (args[1] as string[]) : [];
    const spawnOptions = args[2] as ChildProcess.SpawnOptions | undefined;
    const label = `command ${number}: ${[spawnedName(args), ...argv].join(' ')}`;
    // Under strace, the program is strace's argument; strace itself keeps its own name.
    const straceOptions = spawnOptions ? [{ ...spawnOptions, argv0: undefined }, ...args.slice(3)] : args.slice(2);
    let spawnArgs = args;
    const traced = options.traced.includes(basename(program));
    if (traced && counting) {
      const trace = join(options.reportDirectory, `command-${number}.strace`);
      spawnArgs = ['strace', ['-f', '-qq', '-o', trace, '-e', `trace=${[...TRACED_SYSCALLS, ...(options.tracedSyscalls ?? [])].join(',')}`, '--', program, ...argv], ...straceOptions];
    } else if (traced && options.killInside?.command === number) {
      const { syscall, when } = options.killInside;
      // Without -f: only the command's own process is a kill point (see pointsInsideCommand), and strace's
      // `when` counts per process, so a child it forks (systemctl --machine runs systemd-run) reaching its
      // own WHEN-th call first must not be the one killed.
      spawnArgs = ['strace', ['-qq', '-o', '/dev/null', '-e', `trace=${syscall}`, '-e', `inject=${syscall}:signal=KILL:when=${when}`, '--', program, ...argv], ...straceOptions];
    }
    if (counting) real.appendFileSync(operationsFile, `${JSON.stringify({ command: number, after: count, traced, label })}\n`);
    const child = (spawn as (...a: unknown[]) => ChildProcess.ChildProcess).apply(this, spawnArgs);
    child.on('exit', (_code, signal) => {
      if (options.killInside?.command === number && signal === 'SIGKILL') die(`inside ${label}, at ${options.killInside.syscall} call ${options.killInside.when}`);
      counted(`end of ${label}`);
    });
    return child;
  } as typeof spawn;
}
