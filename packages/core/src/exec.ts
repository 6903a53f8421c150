import { spawn } from 'node:child_process';
import { UnwindError, InvalidInputError, type ErrorContext } from './errors.js';
import { validateTimerMs } from './timer.js';
import { logger } from './log.js';
import { findProgram, trustedSearchPath, type FoundProgram } from './program-lookup.js';
import { descendantsOf, signalProcesses, startTimeOf, type ProcessIdentity } from './process-tree.js';
import type { ErrorCode } from './error-codes.js';

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

/**
 * A program exited with a code not in `okExitCodes`, was killed, timed out or
 * could not start. The argv, exit code and stderr are in the context (and in
 * the transaction's report).
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof CommandError) console.error(e.result?.exitCode, e.result?.stderr); }
 * ```
 */
export class CommandError extends UnwindError {
  readonly result: CommandResult | undefined;
  constructor(code: ErrorCode, message: string, result: CommandResult | undefined, options: { retryable?: boolean; cause?: unknown; context?: ErrorContext } = {}) {
    super(code, message, {
      retryable: options.retryable ?? true,
      cause: options.cause,
      context: {
        ...(result ? { argv: result.argv, exitCode: result.exitCode, signal: result.signal, stderr: tail(result.stderr), durationMs: result.durationMs } : {}),
        ...options.context,
      },
    });
    this.result = result;
  }
}

/**
 * The program exited non-zero (or with a code not listed as ok).
 *
 * @example
 * ```ts
 * // In a custom CommandRunner: fail the way runCommand does.
 * if (!(spec.okExitCodes ?? [0]).includes(result.exitCode ?? -1)) throw new CommandFailedError(result);
 * ```
 */
export class CommandFailedError extends CommandError {
  constructor(result: CommandResult, options: { retryable?: boolean } = {}) {
    super('COMMAND_FAILED', `${result.argv.join(' ')} exited with ${result.exitCode ?? result.signal}: ${firstLine(result.stderr) || '(no stderr)'}`, result, options);
  }
}

/**
 * The program ran past its timeout; its process group was killed.
 *
 * @example
 * ```ts
 * await runCommand({ argv: ['sleep', '10'], timeoutMs: 1000 });
 * // CommandTimeoutError: sleep 10 did not finish within 1000 ms; its process group was killed
 * ```
 */
export class CommandTimeoutError extends CommandError {
  constructor(result: CommandResult, timeoutMs: number) {
    super('COMMAND_TIMEOUT', `${result.argv.join(' ')} did not finish within ${timeoutMs} ms; its process group was killed`, result, { context: { timeoutMs } });
  }
}

/**
 * The signal fired; the process group was killed. Not retryable.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const running = runCommand({ argv: ['sleep', '10'], signal: controller.signal });
 * controller.abort(); // running rejects with CommandAbortedError
 * ```
 */
export class CommandAbortedError extends CommandError {
  constructor(result: CommandResult) {
    super('COMMAND_ABORTED', `${result.argv.join(' ')} was cancelled; its process group was killed`, result, { retryable: false });
  }
}

/**
 * The program does not exist or cannot be executed.
 *
 * @example
 * ```ts
 * try { await ctx.exec({ argv: ['rm', '-rf', '--', staging], signal: ctx.signal }); } catch (error) {
 *   if (!(error instanceof CommandNotFoundError)) throw error;
 *   fs.rmSync(staging, { recursive: true, force: true }); // no rm(1) here: fall back
 * }
 * ```
 */
export class CommandNotFoundError extends CommandError {
  constructor(argv: readonly string[], cause: unknown) {
    super('COMMAND_NOT_FOUND', `cannot run ${argv[0]}: ${(cause as Error)?.message ?? cause}`, undefined, {
      retryable: false,
      cause,
      context: { argv },
    });
  }
}

/** The most of a program's stdout, and of its stderr, that is kept. */
export const MAX_OUTPUT = 4 * 1024 * 1024;

/** After the program exits, how long output still in its pipes is read before they are closed. */
const OUTPUT_DRAIN_MS = 200;

/**
 * The default environment for programs: PATH from this process and a C locale.
 *
 * @example
 * ```ts
 * await runCommand({ argv: ['id', '-u'], env: { ...defaultEnv(), HOME: '/root' } });
 * ```
 */
export function defaultEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
}

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

/** What {@link prepareCommand} settled: the file to execute, its environment and its timeout. */
export interface PreparedCommand {
  file: string;
  env: Record<string, string>;
  timeoutMs: number;
}

/**
 * What every way of running a program does before it starts one: the argv
 * and timers checked, the program found as {@link findProgram} finds it, and
 * the environment it gets, its PATH cut to the trusted entries. Throws
 * `InvalidInputError` for a bad spec and {@link CommandNotFoundError} when
 * nothing may run; either way nothing has run.
 */
export function prepareCommand(spec: Omit<CommandSpec, 'signal' | 'input'>): PreparedCommand {
  validateArgv(spec.argv);
  for (const field of ['timeoutMs', 'killGraceMs'] as const) validateTimerMs(spec[field], `a command's ${field}`);
  const env = spec.env ?? defaultEnv();
  // Found here, not by spawn: a program in a directory another user can change is never run (see findProgram).
  let found: FoundProgram;
  try {
    found = findProgram(spec.argv[0]!, env.PATH, spec.cwd);
  } catch (error) {
    throw new CommandNotFoundError(spec.argv, error);
  }
  if ('refused' in found) throw new CommandNotFoundError(spec.argv, new Error(found.refused));
  // What the program runs by name is found in its PATH, as root: only trusted entries are kept.
  return { file: found.file, env: env.PATH === undefined ? env : { ...env, PATH: trustedSearchPath(env.PATH) }, timeoutMs: spec.timeoutMs ?? 60_000 };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

function validateArgv(argv: readonly string[]): void {
  if (!Array.isArray(argv) || argv.length === 0) throw new InvalidInputError('a command needs a non-empty argv array', { argv });
  for (const part of argv) {
    if (typeof part !== 'string') throw new InvalidInputError('every argv element must be a string', { argv });
    if (part.includes('\0')) throw new InvalidInputError('argv elements must not contain NUL bytes', { argv });
  }
  if (argv[0] === '') throw new InvalidInputError('the program name must not be empty', { argv });
}

function tail(text: string, max = 2000): string {
  return text.length > max ? `…${text.slice(-max)}` : text;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 300) ?? '';
}
