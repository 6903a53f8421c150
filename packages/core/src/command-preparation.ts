import { InvalidInputError } from './errors.js';
import { CommandNotFoundError } from './command-errors.js';
import type { CommandSpec } from './exec.js';
import { findProgram, trustedSearchPath, type FoundProgram } from './program-lookup.js';
import { validateTimerMs } from './timer.js';

// What every way of running a program settles before it starts one (runCommand, runCommandSync).

/** The most of a program's stdout, and of its stderr, that is kept. */
export const MAX_OUTPUT = 4 * 1024 * 1024;

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

function validateArgv(argv: readonly string[]): void {
  if (!Array.isArray(argv) || argv.length === 0) throw new InvalidInputError('a command needs a non-empty argv array', { argv });
  for (const part of argv) {
    if (typeof part !== 'string') throw new InvalidInputError('every argv element must be a string', { argv });
    if (part.includes('\0')) throw new InvalidInputError('argv elements must not contain NUL bytes', { argv });
  }
  if (argv[0] === '') throw new InvalidInputError('the program name must not be empty', { argv });
}
