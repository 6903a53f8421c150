import { Command, CommanderError, Option } from 'commander';
import { UnwindError, serializeError } from '@unwind/core';
import { applyCommand } from './commands/apply.js';
import { logCommand } from './commands/log.js';
import { planCommand } from './commands/plan.js';
import { recoverCommand } from './commands/recover.js';
import { statusCommand } from './commands/status.js';
import { printJson, type CommandIO } from './commands/context.js';
import { CliError, EXIT } from './errors.js';
import { shouldColor, styler, type Output } from '@unwind/progress';
import { printable } from './terminal-text.js';

declare const __UNWIND_CLI_VERSION__: string | undefined;

/**
 * The version of `@unwind/cli` (set at build time).
 *
 * @example
 * ```ts
 * console.log(`unwind ${version}`);
 * ```
 */
export const version: string = typeof __UNWIND_CLI_VERSION__ === 'string' ? __UNWIND_CLI_VERSION__ : '0.0.0-dev';

const rootOption = () => new Option('--root <dir>', 'the journal root (default: $UNWIND_ROOT)');
const jsonOption = () => new Option('--json', 'print JSON for machines instead of text');

const EXIT_HELP = `
Exit codes:
  0  everything is finished (or, for status/log/plan, the command worked)
  2  a rollback or commit action still failed; the journal is kept for another recover
  3  a live process holds the journal root's lock; nothing was touched
  4  bad arguments, an unreadable journal root, or a journal that cannot be used; nothing was touched

Environment:
  UNWIND_ROOT  the journal root when --root is not given
  NO_COLOR     never colour the output (colour is only used on a terminal anyway)`;

/**
 * Where `unwind` writes, and what it runs with. Every field defaults to the process's own.
 *
 * @example
 * ```ts
 * let out = '';
 * await runCli(['status', '--json'], { stdout: { write: (t) => (out += t) }, env: { UNWIND_ROOT: root } });
 * ```
 */
export interface RunOptions {
  /** Results. Default `process.stdout`. */
  stdout?: Output;
  /** Errors and warnings. Default `process.stderr`. */
  stderr?: Output;
  /** Read for UNWIND_ROOT, NO_COLOR, FORCE_COLOR. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Where relative module paths resolve. Default `process.cwd()`. */
  cwd?: string;
  /** Read by `unwind apply -`. Default `process.stdin`. */
  stdin?: NodeJS.ReadableStream;
  /** The clock, for ages shown by `status`. Default `Date.now`. */
  now?: () => number;
}

/**
 * Runs the `unwind` command line with `argv` (without `node` and the script)
 * and resolves with its exit code. Never calls `process.exit`; errors go to
 * `stderr` as `unwind: …` lines.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(['status', '--root', '/var/lib/app/unwind']);
 * ```
 */
export async function runCli(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const io: CommandIO = { stdout, stderr, env, cwd: options.cwd ?? process.cwd(), now: options.now ?? Date.now, ...(options.stdin ? { stdin: options.stdin } : {}), style: styler(shouldColor(stdout, env)) };
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already wrote its message (or the help/version) to the right stream.
      if (error.exitCode === 0) return EXIT.ok;
      if (argv.includes('--json')) printJson(stdout, { ok: false, exitCode: EXIT.badInput, error: { code: 'CLI_ERROR', name: 'CommanderError', message: error.message.replace(/^error: /, '') } });
      return EXIT.badInput;
    }
    const code = error instanceof CliError ? error.exitCode : error instanceof UnwindError && error.code === 'LOCK_HELD' ? EXIT.locked : EXIT.badInput;
    const message = error instanceof Error ? error.message : String(error);
    // A program that asked for JSON reads stdout: it gets the failure as JSON there too (the person reads stderr).
    if (argv.includes('--json')) printJson(stdout, { ok: false, exitCode: code, error: jsonError(error) });
    // A message may quote a journal (a step type) or a command's output: its own line breaks stay, each further
    // line starts with a space (indented if it did not), so no quoted text can start a line that reads as
    // unwind's own; control characters are escaped.
    const [first, ...rest] = message.split('\n').map(printable);
    stderr.write(`unwind: error: ${[first, ...rest.map((line) => (line.startsWith(' ') ? line : `  ${line}`))].join('\n')}\n`);
    if (!(error instanceof UnwindError) && env.UNWIND_DEBUG && error instanceof Error) stderr.write(`${(error.stack ?? '').split('\n').map(printable).join('\n')}\n`);
    return code;
  }
}

/** The `error` field of a failed command's JSON output: always a code, a class name and the message. */
function jsonError(error: unknown): { code: string; name: string; message: string; context?: Record<string, unknown> } {
  const serialized = serializeError(error);
  return { code: serialized.code ?? 'CLI_ERROR', name: serialized.name, message: serialized.message, ...(serialized.context ? { context: serialized.context } : {}) };
}

function buildProgram(io: CommandIO, setExit: (code: number) => void): Command {
  const program = new Command('unwind')
    .description('Run transactions described as data, and inspect and finish unwind transactions: what is unfinished, roll it back, read its log, plan a program.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addHelpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: (t) => void io.stdout.write(t), writeErr: (t) => void io.stderr.write(t), outputError: (t, write) => write(`unwind: ${t.replace(/^error: /, 'error: ')}`) })
    .addHelpText('after', EXIT_HELP);

  const sub = (name: string) =>
    program
      .command(name)
      .exitOverride()
      .configureOutput({ writeOut: (t) => void io.stdout.write(t), writeErr: (t) => void io.stderr.write(t), outputError: (t, write) => write(`unwind: ${t}`) })
      .showHelpAfterError('(run with --help for usage)');

  sub('status')
    .description('show unfinished and stuck transactions (finished ones with --all), what recovery would do, and the lock holder')
    .addOption(rootOption())
    .option('-a, --all', 'also show finished transactions')
    .addOption(jsonOption())
    .action(async (opts: { root?: string; all?: boolean; json?: boolean }) => setExit(await statusCommand(opts, io)));

  sub('recover')
    .description('finish unfinished transactions (all, or TXID): roll them back, or finish their commit actions past the commit point')
    .argument('[txid]', 'a transaction id, a unique prefix of it, or its six-digit suffix')
    .addOption(rootOption())
    .addOption(new Option('--kinds <module>', 'a module exporting `kinds` (step kinds of your program); repeatable').argParser((v: string, prev: string[] = []) => [...prev, v]))
    .addOption(jsonOption())
    .addHelpText('after', `\nThe step kinds of every installed @unwind adapter are registered; add your program's own with --kinds.${EXIT_HELP}`)
    .action(async (txid: string | undefined, opts: { root?: string; kinds?: string[]; json?: boolean }) => setExit(await recoverCommand(txid, opts, io)));

  sub('apply')
    .description('run a transaction described as data (a YAML or JSON file; - reads standard input): checked completely first, then all or nothing')
    .argument('<file>', 'the transaction file, or - for standard input')
    .addOption(rootOption())
    .option('-n, --dry-run', 'print the plan and what would change, and whether the run would be refused (with its exit code); change nothing')
    .option('--recover-first', 'recover unfinished transactions on the root first instead of refusing (exit 5)')
    .addOption(new Option('--kinds <module>', 'a module exporting `kinds` (step kinds of your program); repeatable').argParser((v: string, prev: string[] = []) => [...prev, v]))
    .addOption(jsonOption())
    .addHelpText('after', `\nThe journal root is --root, else the file's root, else $UNWIND_ROOT. See docs/apply.md.\n\nExit codes of apply:\n  0  committed\n  1  a step failed and everything was rolled back\n  2  the rollback failed; run unwind recover\n  3  a live process holds the journal root's lock; nothing was touched\n  4  the file has problems (all listed) or the root cannot be used; nothing was touched\n  5  unfinished transactions on the root; recover them first (or --recover-first); nothing was touched\n--dry-run exits 0 when the run would not be refused, else with the run's code (3, 4 or 5).`)
    .action(async (file: string, opts: { root?: string; dryRun?: boolean; recoverFirst?: boolean; kinds?: string[]; json?: boolean }) => setExit(await applyCommand(file, opts, io)));

  sub('log')
    .description("show a transaction's timeline: steps, durations, attempts, the failure, each undo")
    .argument('<txid>', 'a transaction id, a unique prefix of it, or its six-digit suffix')
    .addOption(rootOption())
    .addOption(jsonOption())
    .action(async (txid: string, opts: { root?: string; json?: boolean }) => setExit(await logCommand(txid, opts, io)));

  sub('plan')
    .description("print the steps a program's transaction would run, changing nothing")
    .argument('<module>', 'a module whose default export (or `transaction`/`plan` export) is a Transaction or a function returning one')
    .addOption(jsonOption())
    .action(async (module: string, opts: { json?: boolean }) => setExit(await planCommand(module, opts, io)));

  return program;
}
