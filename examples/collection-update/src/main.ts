#!/usr/bin/env node
// The command line of the collection update example. Runs against a
// throw-away sandbox by default; touches real paths only with --real.
import * as fs from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseCommandLine, printable, renderProgress } from '@unwind/cli';
import { exitCodeOfRecovery, makePrivateDirectory, UnsafeDirectoryError } from '@unwind/core';
import { checkLock } from './check-lock.js';
import { seedCollection, seedUpstream } from './sample.js';
import { describeRecovery, recoverUpdate, update } from './update.js';

const USAGE = `usage: main.ts [init|plan|update|recover|check] [options]

  init        copy a sample skillmeat collection and a local upstream directory into the sandbox
  plan        show what the update would do (changes nothing)
  update      update every artifact whose upstream offers a new commit (the default)
  recover     finish or roll back an interrupted update, nothing else
  check       check that the lock's content_hash values match the artifacts on disk

options:
  --sandbox DIR             sandbox root (default: ${join(tmpdir(), 'unwind-example-collection')})
  --real                    act on real paths: --collection and --source are then required
  --collection DIR          the skillmeat collection, e.g. ~/.skillmeat/collection
                            (default: <sandbox>/collection)
  --source DIR              the local upstream directory: upstream.toml and the content
                            (default: <sandbox>/upstream)
  --journal DIR             journal root (default: <sandbox>/var/lib/unwind-collection,
                            with --real: ~/.local/state/unwind-collection)
  --workspace-dir DIR       where the temp workspace is made, on the collection's filesystem
                            (default: the collection's parent directory)
  --snapshot-store DIR      keep pre-update snapshots here (default: inside the journal, deleted on success)
  --keep-snapshots N        with --snapshot-store: how many to keep (default 3)
  --force-without-snapshot  if the snapshot cannot be made, update anyway (not recommended)
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
 * process.exitCode = await main(['update', '--sandbox', '/tmp/sb']);
 * ```
 */
export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const line = parseCommandLine(
    argv,
    {
      options: {
    sandbox: { type: 'string' },
    real: { type: 'boolean', default: false },
    collection: { type: 'string' },
    source: { type: 'string' },
    journal: { type: 'string' },
    'workspace-dir': { type: 'string' },
    'snapshot-store': { type: 'string' },
    'keep-snapshots': { type: 'string' },
    'force-without-snapshot': { type: 'boolean', default: false },
      },
      commands: ['init', 'plan', 'update', 'recover', 'check'],
      defaultCommand: 'update',
      usage: USAGE,
    },
    out,
    err,
  );
  if (typeof line === 'number') return line;
  const { command, values } = line;
  const keep = values['keep-snapshots'] === undefined ? undefined : Number(values['keep-snapshots']);
  if (keep !== undefined && (!Number.isInteger(keep) || keep < 0)) {
    err.write('--keep-snapshots needs a whole number\n');
    return 64;
  }
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
  const sandbox = resolve(values.sandbox ?? join(tmpdir(), 'unwind-example-collection'));
  let collectionDir = abs(values.collection);
  let source = abs(values.source);
  let journalRoot = abs(values.journal);
  let workspaceRoot = abs(values['workspace-dir']);
  const snapshotStore = abs(values['snapshot-store']);
  if (values.real) {
    if (!collectionDir || (!source && (command === 'update' || command === 'plan'))) {
      err.write('--real needs --collection (and --source to update): this program never guesses a real path to change.\n');
      return 64;
    }
    journalRoot ??= join(homedir(), '.local', 'state', 'unwind-collection');
    workspaceRoot ??= dirname(collectionDir);
  } else {
    collectionDir ??= join(sandbox, 'collection');
    source ??= join(sandbox, 'upstream');
    journalRoot ??= join(sandbox, 'var', 'lib', 'unwind-collection');
    workspaceRoot ??= dirname(collectionDir);
    const outside = [collectionDir, journalRoot, workspaceRoot, snapshotStore].filter((p): p is string => p !== undefined && !within(p, sandbox));
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
    }  }
  const recoverCommand = `node --import tsx examples/collection-update/src/main.ts recover ${values.real ? '--real ' : `--sandbox ${sandbox} `}--collection ${collectionDir} --journal ${journalRoot}`;

  switch (command) {
    case 'init':
      if (values.real) {
        err.write('init only makes sample data in a sandbox; it refuses --real.\n');
        return 64;
      }
      if (fs.existsSync(collectionDir)) {
        err.write(`${printable(collectionDir)} already exists; remove the sandbox ${printable(sandbox)} to start over.\n`);
        return 4;
      }
      seedCollection(collectionDir);
      if (!fs.existsSync(source!)) seedUpstream(source!);
      fs.mkdirSync(workspaceRoot, { recursive: true });
      out.write(`Sample skillmeat collection in ${printable(collectionDir)}, its upstreams in ${printable(source!)}.\nNow try: node --import tsx examples/collection-update/src/main.ts plan --sandbox ${printable(sandbox)}\n`);
      return 0;
    case 'check': {
      const problems = checkLock(collectionDir);
      // Each problem quotes artifact and file names from the collection, which another user may have chosen: escaped for the terminal.
      out.write(problems.length === 0 ? `The lock matches every artifact in ${printable(collectionDir)}.\n` : `The lock does not hold:\n${problems.map((p) => `  ${printable(p)}`).join('\n')}\n`);
      return problems.length === 0 ? 0 : 1;
    }
    case 'recover': {
      const report = await recoverUpdate({ journalRoot, onEvent: renderProgress({ stream: err }) });
      const lines = describeRecovery(report);
      // The lines quote errors from the journal: escaped line by line for the terminal.
      (report.refused ? err : out).write(`${lines.length ? lines.map(printable).join('\n') : 'Nothing to recover: no interrupted update.'}\n`);
      return exitCodeOfRecovery(report);
    }
  }
  const result = await update({
    collectionDir,
    source: source!,
    journalRoot,
    workspaceRoot,
    ...(snapshotStore ? { snapshotStore } : {}),
    ...(keep !== undefined ? { keepSnapshots: keep } : {}),
    forceWithoutSnapshot: values['force-without-snapshot'],
    dryRun: command === 'plan',
    recoverCommand,
    warn: (line) => err.write(`\n!!! ${line}\n`),
    onEvent: renderProgress({ stream: err }),
  });
  // The message quotes names and command output another user may have chosen: escaped line by line for the terminal.
  (result.exitCode === 0 ? out : err).write(`${result.message.split('\n').map(printable).join('\n')}\n`);
  return result.exitCode;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
