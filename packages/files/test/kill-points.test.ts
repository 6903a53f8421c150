import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { recover } from '@unwind/core';
import { killTests, type KillWorld, requireHere, type RunStepsConfig, temporaryDirectory, testKinds, treeState } from '@unwind/core/testing';
import { kinds } from '../src/index.js';
import { isRoot } from './helpers.js';

// SIGKILL a transaction of every files kind (writeFile, copy, ensureDir, chmod, chown, symlink, move,
// remove) after each of its mutating operations in turn — every file-system call of do, undo, commit and
// the journal, and the end of each command (remove's rm) — then recover() in this process: the tree is
// exactly the before-state, or the after-state past the commit point, and a second recover() changes
// nothing. crash.test.ts kills the four kinds of its transaction before every call; this covers all eight,
// committed and rolled back, on a seeded sample (UNWIND_KILL_SEED replays, UNWIND_KILL_POINTS=0 runs all);
// then kills from outside at random times drawn from the measured span of the committing run.

const allKinds = [...kinds, ...testKinds];
const kindsModule = resolve(import.meta.dirname, '../src/index.ts');

function arrange(rollback: boolean): KillWorld<RunStepsConfig> {
  const base = temporaryDirectory('unwind-files-kill-');
  const d = join(base.path, 'tree');
  fs.mkdirSync(join(d, 'home', 'alice', '.ssh'), { recursive: true });
  fs.writeFileSync(join(d, 'home', 'alice', '.ssh', 'authorized_keys'), 'key\n', { mode: 0o600 });
  fs.writeFileSync(join(d, 'home', 'alice', 'notes'), 'n\n');
  fs.writeFileSync(join(d, 'a.conf'), 'old a\n', { mode: 0o640 });
  fs.writeFileSync(join(d, 'source.conf'), 'copied\n', { mode: 0o644 });
  fs.writeFileSync(join(d, 'script'), '#!/bin/sh\n', { mode: 0o644 });
  fs.writeFileSync(join(d, 'owned'), 'o\n');
  fs.writeFileSync(join(d, 'moving'), 'm\n');
  const journalRoot = join(base.path, 'journal');
  return {
    config: {
      name: 'files kill points', journalRoot, kindsModule, retention: 'keep', rollback,
      steps: [
        { type: 'files.writeFile', args: { path: join(d, 'a.conf'), content: 'new a\n', mode: 0o600 } },
        { type: 'files.copy', args: { source: join(d, 'source.conf'), path: join(d, 'b.conf') } },
        { type: 'files.ensureDir', args: { path: join(d, 'etc', 'app'), mode: 0o750 } },
        { type: 'files.chmod', args: { path: join(d, 'script'), mode: 0o755 } },
        { type: 'files.chown', args: { path: join(d, 'owned'), uid: 1000, gid: 1000 } },
        { type: 'files.symlink', args: { path: join(d, 'current'), target: 'a.conf' } },
        { type: 'files.move', args: { from: join(d, 'moving'), to: join(d, 'etc', 'app', 'moved') } },
        { type: 'files.remove', args: { paths: [join(d, 'home', 'alice')], keep: [join(d, 'home', 'alice', '.ssh')] } },
      ],
    },
    roots: [base.path],
    journalRoot,
    state: () => treeState(d),
    recover: () => recover({ root: journalRoot, kinds: allKinds }),
    cleanup: () => base.remove(),
  };
}

killTests({
  name: 'files',
  transaction: 'of every kind',
  runs: { committed: 'a committing run (every do and commit)', rolledBack: 'a run that rolls back (every do and undo)' },
  arrange,
  randomKills: { committed: 8 },
  requires: () => requireHere(isRoot ? false : 'not root', 'root'),
});
