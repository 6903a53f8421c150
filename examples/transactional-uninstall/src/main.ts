#!/usr/bin/env node
// The command line of the transactional uninstall example. Runs against a
// throw-away sandbox by default; touches real paths only with --real.
import * as fs from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseCommandLine, printable, renderProgress } from '@unwind/cli';
import { exitCodeOfRecovery, makePrivateDirectory, UnsafeDirectoryError } from '@unwind/core';
import { seedStateDirectory } from './inventory.js';
import { describeRecovery, recoverUninstall, uninstall } from './uninstall.js';

const USAGE = `usage: main.ts [init|plan|uninstall|recover] [options]

  init        create a sample state directory in the sandbox
  plan        show what would move (changes nothing)
  uninstall   stage every inventory group, then delete (the default)
  recover     finish or roll back an interrupted uninstall, nothing else

options:
  --sandbox DIR       sandbox root (default: ${join(tmpdir(), 'unwind-example-uninstall')})
  --real              act on real paths: --state-dir is then required and may lie anywhere
  --state-dir DIR     the state directory (default: <sandbox>/home/user/.memtomem)
  --staging-dir DIR   where the staging directories go (default: the state directory's parent)
  --journal DIR       journal root (default: <sandbox>/var/lib/unwind-uninstall,
                      with --real: ~/.local/state/unwind-uninstall)
  --keep-config       keep the configuration
  --keep-data         keep memories, uploads and the database
  --allow-copy        staging on another filesystem: copy then delete instead of refusing
  -h, --help`;

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/**
 * Runs the command line; resolves with the exit code (0 done, 1 rolled back,
 * 2 rollback failed, 4 refused, 64 usage).
 *
 * @example
 * ```ts
 * process.exitCode = await main(['uninstall', '--keep-config']);
 * ```
 */
export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const line = parseCommandLine(
    argv,
    {
      options: {
    sandbox: { type: 'string' },
    real: { type: 'boolean', default: false },
    'state-dir': { type: 'string' },
    'staging-dir': { type: 'string' },
    journal: { type: 'string' },
    'keep-config': { type: 'boolean', default: false },
    'keep-data': { type: 'boolean', default: false },
    'allow-copy': { type: 'boolean', default: false },
      },
      commands: ['init', 'plan', 'uninstall', 'recover'],
      defaultCommand: 'uninstall',
      usage: USAGE,
    },
    out,
    err,
  );
  if (typeof line === 'number') return line;
  const { command, values } = line;
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
  const sandbox = resolve(values.sandbox ?? join(tmpdir(), 'unwind-example-uninstall'));
  let stateDir = abs(values['state-dir']);
  let journalRoot = abs(values.journal);
  const stagingDir = abs(values['staging-dir']);
  if (values.real) {
    if (!stateDir) {
      err.write('--real needs --state-dir: this program never guesses a real path to delete.\n');
      return 64;
    }
    journalRoot ??= join(homedir(), '.local', 'state', 'unwind-uninstall');
  } else {
    stateDir ??= join(sandbox, 'home', 'user', '.memtomem');
    journalRoot ??= join(sandbox, 'var', 'lib', 'unwind-uninstall');
    const outside = [stateDir, journalRoot, stagingDir].filter((p): p is string => p !== undefined && !within(p, sandbox));
    if (outside.length > 0) {
      err.write(`Refusing: ${outside.join(', ')} lie(s) outside the sandbox ${sandbox}. Pass --real to act on real paths.\n`);
      return 4;
    }
    // Root writes sample data and journals there: a sandbox another user made (in /tmp anyone can) is refused.
    try {
      makePrivateDirectory(sandbox, 'sandbox root');
    } catch (error) {
      if (!(error instanceof UnsafeDirectoryError)) throw error;
      err.write(`Refusing: ${printable(error.message)}. Remove it, or pass --sandbox with a directory only root can change.\n`);
      return 4;
    }
  }
  if (!isAbsolute(stateDir)) stateDir = resolve(stateDir);
  const recoverCommand = `node --import tsx examples/transactional-uninstall/src/main.ts recover ${values.real ? '--real ' : `--sandbox ${sandbox} `}--state-dir ${stateDir} --journal ${journalRoot}`;

  if (command === 'init') {
    if (values.real) {
      err.write('init only makes sample data in a sandbox; it refuses --real.\n');
      return 64;
    }
    if (fs.existsSync(stateDir)) {
      err.write(`${printable(stateDir)} already exists; remove the sandbox ${printable(sandbox)} to start over.\n`);
      return 4;
    }
    seedStateDirectory(stateDir);
    fs.mkdirSync(journalRoot, { recursive: true, mode: 0o700 });
    out.write(`Sample state directory created: ${printable(stateDir)}\nNow try: node --import tsx examples/transactional-uninstall/src/main.ts plan --sandbox ${printable(sandbox)}\n`);
    return 0;
  }
  if (command === 'recover') {
    const report = await recoverUninstall({ journalRoot, onEvent: renderProgress({ stream: err }) });
    const lines = describeRecovery(report);
    // The lines quote errors from the journal: escaped line by line for the terminal.
    (report.refused ? err : out).write(`${lines.length ? lines.map(printable).join('\n') : 'Nothing to recover: no interrupted uninstall.'}\n`);
    return exitCodeOfRecovery(report);
  }
  const result = await uninstall({
    stateDir,
    journalRoot,
    ...(stagingDir ? { stagingDir } : {}),
    keepConfig: values['keep-config'],
    keepData: values['keep-data'],
    allowCopy: values['allow-copy'],
    dryRun: command === 'plan',
    recoverCommand,
    onEvent: renderProgress({ stream: err }),
  });
  // The message quotes names of files in the state directory and a server's /proc/PID/cmdline, which another user
  // may have chosen: escaped line by line for the terminal.
  (result.exitCode === 0 ? out : err).write(`${result.message.split('\n').map(printable).join('\n')}\n`);
  return result.exitCode;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
