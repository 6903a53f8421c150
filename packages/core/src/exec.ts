import { spawn } from 'node:child_process';
import { CommandAbortedError, CommandFailedError, CommandNotFoundError, CommandTimeoutError } from './command-errors.js';
import { MAX_OUTPUT, prepareCommand, type PreparedCommand } from './command-preparation.js';
import { logger } from './log.js';
import { descendantsOf, signalProcesses, startTimeOf, type ProcessIdentity } from './process-tree.js';

const log = logger('exec');

/**
 * A program to run: argv only, never a shell string.
 *
 * @example
 * ```ts
 * const spec: CommandSpec = { argv: ['getent', 'passwd', 'app'], okExitCodes: [0, 2], timeoutMs: 15_000 };
 * const { exitCode, stdout } = await runCommand(spec); // exit code 2: no such user
 * ```
 */
export interface CommandSpec {
  /** `[program, ...arguments]`. No shell ever interprets them. */
  argv: readonly string[];
  /**
   * The environment, given explicitly. Defaults to `{ PATH, LC_ALL: 'C' }`
   * from this process, so messages are parseable and nothing leaks in.
   * Either way the program gets only the PATH entries nobody but root and
   * the running user can change (see {@link trustedSearchPath}).
   */
  env?: Record<string, string>;
  /** Kill the process group after this many ms. Default 60 000. */
  timeoutMs?: number;
  /** Kill the process group when this fires. */
  signal?: AbortSignal;
  /** Written to stdin, then stdin is closed. */
  input?: string | Uint8Array;
  /**
   * The program's working directory. Default `/`: never the caller's, which
   * may be a directory another user owns (a `git` there reads their config,
   * a program may load what it finds there). A relative program path is
   * still found from the caller's working directory.
   */
  cwd?: string;
  /** Exit codes that count as success. Default `[0]`. */
  okExitCodes?: readonly number[];
  /** Turns a failed result into a more specific error (e.g. userdel exit 8 → UserBusyError). */
  mapError?: (result: CommandResult) => Error | undefined;
  /** Time between SIGTERM and SIGKILL to the process group. Default 2000 ms. */
  killGraceMs?: number;
}

/**
 * What a finished program left.
 *
 * @example
 * ```ts
 * const result: CommandResult = await runCommand({ argv: ['id', '-u', 'app'] });
 * const uid = Number(result.stdout.trim()); // result.exitCode === 0 here
 * ```
 */
export interface CommandResult {
  argv: readonly string[];
  exitCode: number | null;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/**
 * Runs a program. Rejects with a {@link CommandError} when it fails.
 *
 * @example
 * ```ts
 * const traced: CommandRunner = (spec) => { console.error('$', spec.argv.join(' ')); return runCommand(spec); };
 * const tx = transaction('install app', { journal: fileJournal({ root: '/var/lib/app/unwind' }), exec: traced });
 * ```
 */
export type CommandRunner = (spec: CommandSpec) => Promise<CommandResult>;

/** After the program exits, how long output still in its pipes is read before they are closed. */
const OUTPUT_DRAIN_MS = 200;

/**
 * Runs a program without a shell, in its own process group, so a timeout or
 * cancellation kills it and everything it started: the group, and every
 * descendant that left it (`setsid`) while its parent still ran. Only a
 * process whose parent had already exited (a daemon's double fork) is out
 * of reach: nothing links it to the command any more. A bare program name is
 * looked up in the PATH of the program's environment as `execvp` would,
 * except that empty and relative entries are never searched and a file
 * another user could change is never run (see {@link findProgram}): such a
 * program is a {@link CommandNotFoundError}, and nothing runs. The program
 * gets that PATH with only its trusted entries ({@link trustedSearchPath}),
 * and runs in `/` unless `cwd` is given.
 *
 * @example
 * ```ts
 * const { stdout } = await runCommand({ argv: ['systemctl', 'show', '-p', 'ActiveState', 'app.service'], timeoutMs: 10_000 });
 * ```
 */
export const runCommand: CommandRunner = (spec) => {
  let prepared: PreparedCommand;
  try {
    prepared = prepareCommand(spec);
  } catch (error) {
    return Promise.reject(error);
  }
  const { file, env, timeoutMs } = prepared;
  const graceMs = spec.killGraceMs ?? 2000;
  const started = performance.now();
  log('run %o', spec.argv);
  return new Promise<CommandResult>((resolve, reject) => {
    if (spec.signal?.aborted) {
      reject(new CommandAbortedError(result(null, null, '', '')));
      return;
    }
    let stdout = '';
    let stderr = '';
    let ended: 'timeout' | 'abort' | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const [program, ...rest] = spec.argv as [string, ...string[]];
    const child = spawn(file, rest, {
      argv0: program, // what execvp would pass: the name as the caller wrote it
      shell: false,
      detached: true, // own process group: we kill the group, not just the leader
      env,
      cwd: spec.cwd ?? '/',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    function result(exitCode: number | null, signal: NodeJS.Signals | null, out: string, err: string): CommandResult {
      return { argv: spec.argv, exitCode, signal, stdout: out, stderr: err, durationMs: Math.round(performance.now() - started) };
    }
    // The leader, and the descendants found when the kill began, in whatever group or session they moved to (see killAll).
    let leader: ProcessIdentity | undefined;
    let descendants: ProcessIdentity[] = [];
    const killGroup = (why: 'timeout' | 'abort') => {
      if (ended || child.pid === undefined) return;
      ended = why;
      // Found before the group is signalled: a descendant whose parent dies is handed to init, and nothing links it to us any more.
      const start = startTimeOf(child.pid);
      leader = start === undefined ? undefined : { pid: child.pid, start };
      descendants = leader ? descendantsOf([leader]) : [];
      signalGroup(child.pid, 'SIGTERM');
      signalProcesses(descendants, 'SIGTERM');
      killTimer = setTimeout(() => killAll(), graceMs);
      killTimer.unref();
    };
    /**
     * SIGKILL to the process group and to every descendant found: the group
     * alone misses one that left it (`setsid`), which would run on, as root,
     * after its command was reported killed. Those found when the kill began,
     * and whatever they started since.
     */
    const killAll = () => {
      if (child.pid === undefined) return;
      signalGroup(child.pid, 'SIGKILL');
      // Walked again only from processes still the ones found: a pid reused since names another's children.
      const since = descendantsOf(leader ? [leader, ...descendants] : descendants);
      signalProcesses([...descendants, ...since], 'SIGKILL');
    };
    const timer = setTimeout(() => killGroup('timeout'), timeoutMs);
    const onAbort = () => killGroup('abort');
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < MAX_OUTPUT) stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < MAX_OUTPUT) stderr += d; });
    child.stdin.on('error', () => {}); // a program that exits without reading stdin is not our error
    if (spec.input !== undefined) child.stdin.end(spec.input);
    else child.stdin.end();
    const cleanup = () => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      spec.signal?.removeEventListener('abort', onAbort);
    };
    let settled = false;
    child.on('error', (error) => {
      if (settled) return;
      settled = true;
      cleanup();
      closePipes();
      reject(new CommandNotFoundError(spec.argv, error));
    });
    // Settle on the program's exit, not on the end of its output: a descendant
    // that escaped the process group (setsid) may hold the pipes open for ever.
    // Output already in the pipes is read for a moment, then the pipes are closed.
    child.on('exit', (exitCode, signal) => {
      // The leader is gone; make sure nothing it left, in its group or out of it, survives a kill.
      if (ended) killAll();
      clearTimeout(timer);
      const drain = setTimeout(() => finish(exitCode, signal), OUTPUT_DRAIN_MS);
      child.once('close', () => {
        clearTimeout(drain);
        finish(exitCode, signal);
      });
    });
    function closePipes(): void {
      child.stdout.destroy();
      child.stderr.destroy();
      child.stdin.destroy();
    }
    function finish(exitCode: number | null, signal: NodeJS.Signals | null): void {
      if (settled) return;
      settled = true;
      cleanup();
      closePipes();
      const res = result(exitCode, signal, stdout, stderr);
      log('exit %o %s in %d ms', spec.argv, exitCode ?? signal, res.durationMs);
      if (ended === 'timeout') return reject(new CommandTimeoutError(res, timeoutMs));
      if (ended === 'abort') return reject(new CommandAbortedError(res));
      const ok = spec.okExitCodes ?? [0];
      if (exitCode !== null && ok.includes(exitCode)) return resolve(res);
      reject(spec.mapError?.(res) ?? new CommandFailedError(res));
    }
  });
};

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

