#!/usr/bin/env node
// The command line of the user-destroy example. Runs against a throw-away
// sandbox by default; touches the machine only with --real.
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseCommandLine, printable, renderProgress } from '@unwind/cli';
import { runCommand, type CommandRunner, exitCodeOfRecovery, UnsafeDirectoryError } from '@unwind/core';
import { describeRecovery, destroyUser, recoverDestroy } from './destroy.js';
import { createSandbox, openSandboxRoot, sampleAppPath, sandboxLayout } from './sandbox.js';

const DEFAULT_SANDBOX = join(tmpdir(), 'unwind-example-user-destroy');

const USAGE = `usage: main.ts [init|destroy|recover] [options]

  init        make a sandbox with a sample user and managed state
  destroy     snapshot the managed state, destroy it, delete the account (the default)
  recover     finish or roll back an interrupted destroy, nothing else

options:
  --user NAME          the account (default in the sandbox: alice; required with --real)
  --app NAME           the application (default: example-app, the sandbox's sample app)
  --snapshot REL       a path the destroy command touches, relative to the home; repeat for each
                       (default: .config/APP and .local/share/APP)
  --no-stop-processes  do not stop the user's manager and processes: userdel then fails while
                       any run (and the destroy rolls back)
  -- ARGV...           the application's destroy command, run as the user with HOME set
                       (default in the sandbox: <sandbox>/usr/local/bin/APP destroy;
                       required with --real, e.g. -- /usr/local/bin/sys destroy)
  --sandbox DIR        sandbox root (default: ${DEFAULT_SANDBOX}); made if missing
  --real               act on this machine's users. Never the default.
  --journal DIR        journal root (default: <sandbox>/var/lib/unwind-user-destroy,
                       with --real: /var/lib/unwind-user-destroy)
  --remove-home        delete the home directory too (like userdel -r)
  --grace-ms MS        time between TERM and KILL for the user's processes (default 5000)
  --retries N          retries while userdel says the user is busy (default 3)
  --simulate-busy      demo: userdel answers "user is currently used by process" (exit 8)
                       every time, to see the state come back from the snapshot
  -h, --help

It needs root: the shadow tools run with -P <sandbox>, and the destroy runs as the user.`;

/**
 * A runner whose userdel always answers exit 8, as when the user's processes outlive every attempt.
 *
 * @example
 * ```ts
 * await destroyUser({ ...options, exec: alwaysBusy() }); // rolled back: the user keeps their state
 * ```
 */
export function alwaysBusy(base: CommandRunner = runCommand): CommandRunner {
  return (spec) =>
    spec.argv[0] === 'userdel'
      ? base({ ...spec, argv: ['sh', '-c', 'for last in "$@"; do :; done; echo "userdel: user $last is currently used by process 4242" >&2; exit 8', 'sh', ...spec.argv] })
      : base(spec);
}

/**
 * Test hooks: a command runner for every step.
 *
 * @example
 * ```ts
 * await main(['--user', 'alice'], process.stdout, process.stderr, { exec: recordingRunner });
 * ```
 */
export interface MainHooks {
  exec?: CommandRunner;
}

/**
 * Runs the command line; resolves with the exit code (0 deleted, 1 rolled
 * back, 2 rollback failed, 3 lock held, 4 refused, 64 usage).
 *
 * @example
 * ```ts
 * process.exitCode = await main(['destroy', '--user', 'alice']);
 * ```
 */
export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr, hooks: MainHooks = {}): Promise<number> {
  // Everything after `--` is the destroy command, an argv passed through untouched.
  const split = argv.indexOf('--');
  const destroyArgv = split >= 0 ? argv.slice(split + 1) : undefined;
  const line = parseCommandLine(
    split >= 0 ? argv.slice(0, split) : argv,
    {
      options: {
    user: { type: 'string' },
    app: { type: 'string', default: 'example-app' },
    sandbox: { type: 'string' },
    real: { type: 'boolean', default: false },
    journal: { type: 'string' },
    'remove-home': { type: 'boolean', default: false },
    snapshot: { type: 'string', multiple: true },
    'no-stop-processes': { type: 'boolean', default: false },
    'grace-ms': { type: 'string' },
    retries: { type: 'string' },
    'simulate-busy': { type: 'boolean', default: false },
      },
      commands: ['init', 'destroy', 'recover'],
      defaultCommand: 'destroy',
      usage: USAGE,
    },
    out,
    err,
  );
  if (typeof line === 'number') return line;
  const { command, values } = line;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(values.app)) {
    err.write(`--app needs a plain name, got ${JSON.stringify(values.app)}\n`);
    return 64;
  }
  if (values.real && values.sandbox) {
    err.write('--real and --sandbox exclude each other.\n');
    return 64;
  }
  if (values.real && !values.user && command !== 'recover') {
    err.write('--real needs --user: this program never guesses which account to delete.\n');
    return 64;
  }
  if (values.real && command === 'destroy' && !destroyArgv?.length) {
    err.write('--real needs the application\'s destroy command after --, e.g. -- /usr/local/bin/sys destroy\n');
    return 64;
  }
  if (destroyArgv !== undefined && destroyArgv.length === 0) {
    err.write('-- must be followed by the destroy command\n');
    return 64;
  }
  const number = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a whole number ≥ 0, got ${v}`);
    return n;
  };
  let graceMs: number | undefined;
  let retries: number | undefined;
  try {
    graceMs = number('--grace-ms', values['grace-ms']);
    retries = number('--retries', values.retries);
  } catch (error) {
    err.write(`${(error as Error).message}\n`);
    return 64;
  }
  if (process.getuid?.() !== 0) {
    err.write('This program needs root: the shadow tools (also with -P <sandbox>), and the destroy runs as the user.\n');
    return 4;
  }
  const user = values.user ?? 'alice';
  let exec = hooks.exec ?? runCommand;
  if (values['simulate-busy']) exec = alwaysBusy(exec);

  let prefix: string | undefined;
  let journalRoot: string;
  let lingerDir: string | undefined;
  let recoverCommand: string;
  if (values.real) {
    journalRoot = resolve(values.journal ?? '/var/lib/unwind-user-destroy');
    recoverCommand = `node --import tsx examples/user-destroy/src/main.ts recover --real --journal ${journalRoot}`;
  } else {
    const root = resolve(values.sandbox ?? DEFAULT_SANDBOX);
    // Before anything in it is read, run or copied there: a root another user made or can change (even an empty one) is theirs.
    let found: ReturnType<typeof openSandboxRoot>;
    try {
      found = openSandboxRoot(root);
    } catch (error) {
      if (!(error instanceof UnsafeDirectoryError)) throw error;
      err.write(`Refusing: ${printable(error.message)}. Remove it, or pass --sandbox with a directory only root can change.\n`);
      return 4;
    }
    if (found === 'other') {
      err.write(`Refusing: ${printable(root)} exists and is not a sandbox made by this program.\n`);
      return 4;
    }
    const exists = found === 'sandbox';
    if (command === 'init' && exists) {
      err.write(`${printable(root)} already holds a sandbox; remove it to start over.\n`);
      return 4;
    }
    if (!exists) {
      const made = createSandbox(root, { user, app: values.app });
      out.write(`${printable(`Sandbox made at ${root}: user ${user} (uid ${made.uid}) with managed state ${made.stateDir} and ${made.dataDir}, a linger file, and the sample application ${sampleAppPath(root, values.app)}.`)}\n`);
      if (command === 'init') return 0;
    }
    const sb = sandboxLayout(root);
    prefix = sb.root;
    lingerDir = sb.lingerDir;
    journalRoot = resolve(values.journal ?? sb.journalRoot);
    recoverCommand = `node --import tsx examples/user-destroy/src/main.ts recover --sandbox ${root}`;
  }
  if (command === 'init') {
    err.write('init only makes a sandbox; it refuses --real.\n');
    return 64;
  }
  if (command === 'recover') {
    const report = await recoverDestroy({ journalRoot, exec, onEvent: renderProgress({ stream: err }) });
    const lines = describeRecovery(report);
    // The lines quote errors from the journal: escaped line by line for the terminal.
    (report.refused ? err : out).write(`${lines.length ? lines.map(printable).join('\n') : 'Nothing to recover: no interrupted destroy.'}\n`);
    return exitCodeOfRecovery(report);
  }
  const result = await destroyUser({
    user,
    app: values.app,
    destroyCommand: destroyArgv ?? [sampleAppPath(prefix!, values.app), 'destroy'],
    ...(values.snapshot ? { snapshotPaths: values.snapshot } : {}),
    stopProcesses: !values['no-stop-processes'],
    ...(prefix ? { prefix } : {}),
    ...(lingerDir ? { lingerDir } : {}),
    journalRoot,
    removeHome: values['remove-home'],
    ...(graceMs !== undefined ? { graceMs } : {}),
    ...(retries !== undefined ? { retries } : {}),
    exec,
    recoverCommand,
    onEvent: renderProgress({ stream: err }),
  });
  // The message (describeOutcome) quotes file names, the destroy command's output and errors another user may have chosen: escaped line by line.
  (result.exitCode === 0 ? out : err).write(`${result.message.split('\n').map(printable).join('\n')}\n`);
  return result.exitCode;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
