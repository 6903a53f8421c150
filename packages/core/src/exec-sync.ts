import { spawnSync } from 'node:child_process';
import { CommandFailedError, CommandNotFoundError, CommandTimeoutError } from './command-errors.js';
import { MAX_OUTPUT, prepareCommand } from './command-preparation.js';
import type { CommandResult, CommandSpec } from './exec.js';
import { logger } from './log.js';

const log = logger('exec');

/**
 * A program to run synchronously: a {@link CommandSpec} without what only an
 * asynchronous run can honour (a cancelling signal, a grace period between
 * SIGTERM and SIGKILL).
 *
 * @example
 * ```ts
 * const spec: CommandSyncSpec = { argv: ['getent', 'group', 'wheel'], okExitCodes: [0, 2], timeoutMs: 15_000 };
 * ```
 */
export type CommandSyncSpec = Omit<CommandSpec, 'signal' | 'killGraceMs'>;

/**
 * Runs a short query program and waits for it, blocking the event loop: for
 * a check that must answer synchronously (a protection rule asked from a
 * step's synchronous check) and cannot await {@link runCommand}. The program
 * is found, vetted and given its environment exactly as `runCommand` does
 * (same PATH search and trust rule, same trusted PATH, `/` as its working
 * directory), and fails with the same typed errors. Two differences, both
 * of a synchronous run: at the timeout the program alone is killed, with
 * SIGKILL, not its process group; and output past 4 MiB kills it and fails
 * the run. Use it for quick lookups (`getent`), never for work.
 *
 * @example
 * ```ts
 * const { exitCode, stdout } = runCommandSync({ argv: ['getent', 'group', 'wheel'], okExitCodes: [0, 2], timeoutMs: 15_000 });
 * // exitCode 2: no such group
 * ```
 */
export function runCommandSync(spec: CommandSyncSpec): CommandResult {
  const { file, env, timeoutMs } = prepareCommand(spec);
  const [program, ...rest] = spec.argv as [string, ...string[]];
  const started = performance.now();
  log('run %o', spec.argv);
  const run = spawnSync(file, rest, {
    argv0: program,
    shell: false,
    encoding: 'utf8',
    env,
    cwd: spec.cwd ?? '/',
    input: spec.input,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: MAX_OUTPUT,
  });
  const result: CommandResult = { argv: spec.argv, exitCode: run.status, signal: run.signal, stdout: run.stdout ?? '', stderr: run.stderr ?? '', durationMs: Math.round(performance.now() - started) };
  log('exit %o %s in %d ms', spec.argv, result.exitCode ?? result.signal, result.durationMs);
  const errorCode = (run.error as NodeJS.ErrnoException | undefined)?.code;
  if (errorCode === 'ETIMEDOUT') throw new CommandTimeoutError(result, timeoutMs);
  // Killed for printing more than is kept: a failure with what it printed, not a missing program.
  if (errorCode === 'ENOBUFS') throw new CommandFailedError(result);
  if (run.error) throw new CommandNotFoundError(spec.argv, run.error);
  const ok = spec.okExitCodes ?? [0];
  if (result.exitCode !== null && ok.includes(result.exitCode)) return result;
  throw spec.mapError?.(result) ?? new CommandFailedError(result);
}
