import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileJournal, recover, transaction, type AnyStepKind, type Step } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';
import { chmod, chown, copy, ensureDir, kinds as filesKinds, move, remove, symlink, writeFile } from '@unwind/files';
import { filesSandbox, type FilesSandbox } from './files-sandbox.js';

// Undo is compare-and-swap: an admin's change made while the rollback runs
// (or a later transaction's committed change) is never reverted. The undo
// leaves it, the rollback ends rollback-failed with UndoConflictError (tried
// once, never retried), and nothing outside the sandbox changed.

let sb: FilesSandbox | undefined;
afterEach(() => {
  sb?.cleanup();
  sb = undefined;
});

interface Case {
  name: string;
  setup(dir: string): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  step(dir: string): Step<any, any, any>;
  /** The admin's edit, made when the rollback starts. */
  admin(dir: string): void;
  /** What the admin's edit left, which must survive the rollback. */
  state(dir: string): unknown;
}

const content = (path: string) => fs.readFileSync(path, 'utf8');
const modeOf = (path: string) => fs.lstatSync(path).mode & 0o7777;

const cases: Case[] = [
  {
    name: 'writeFile over an existing file',
    setup: (d) => fs.writeFileSync(join(d, 'app.conf'), 'original\n'),
    step: (d) => writeFile({ path: join(d, 'app.conf'), content: 'ours\n' }),
    admin: (d) => fs.writeFileSync(join(d, 'app.conf'), 'the admin\'s password change\n'),
    state: (d) => content(join(d, 'app.conf')),
  },
  {
    name: 'writeFile of a new file',
    setup: () => {},
    step: (d) => writeFile({ path: join(d, 'new.conf'), content: 'ours\n' }),
    admin: (d) => fs.writeFileSync(join(d, 'new.conf'), 'the admin kept and edited it\n'),
    state: (d) => content(join(d, 'new.conf')),
  },
  {
    name: 'copy over an existing file',
    setup: (d) => {
      fs.writeFileSync(join(d, 'source'), 'ours\n');
      fs.writeFileSync(join(d, 'target'), 'original\n');
    },
    step: (d) => copy({ source: join(d, 'source'), path: join(d, 'target') }),
    admin: (d) => fs.writeFileSync(join(d, 'target'), 'admin\n'),
    state: (d) => content(join(d, 'target')),
  },
  {
    name: 'chmod',
    setup: (d) => fs.writeFileSync(join(d, 'key'), 'k', { mode: 0o644 }),
    step: (d) => chmod({ path: join(d, 'key'), mode: 0o640 }),
    admin: (d) => fs.chmodSync(join(d, 'key'), 0o600),
    state: (d) => modeOf(join(d, 'key')),
  },
  {
    name: 'chown',
    setup: (d) => fs.writeFileSync(join(d, 'data'), 'd'),
    step: (d) => chown({ path: join(d, 'data'), uid: 4242 }),
    admin: (d) => fs.chownSync(join(d, 'data'), 4343, 0),
    state: (d) => fs.lstatSync(join(d, 'data')).uid,
  },
  {
    name: 'symlink',
    setup: (d) => fs.symlinkSync('releases/1', join(d, 'current')),
    step: (d) => symlink({ path: join(d, 'current'), target: 'releases/2' }),
    admin: (d) => {
      fs.rmSync(join(d, 'current'));
      fs.symlinkSync('releases/3', join(d, 'current'));
    },
    state: (d) => fs.readlinkSync(join(d, 'current')),
  },
  {
    name: 'ensureDir of an existing directory',
    setup: (d) => fs.mkdirSync(join(d, 'var'), { mode: 0o755 }),
    step: (d) => ensureDir({ path: join(d, 'var'), mode: 0o750 }),
    admin: (d) => fs.chmodSync(join(d, 'var'), 0o700),
    state: (d) => modeOf(join(d, 'var')),
  },
  {
    name: 'move',
    setup: (d) => fs.writeFileSync(join(d, 'from'), 'moved\n'),
    step: (d) => move({ from: join(d, 'from'), to: join(d, 'to') }),
    admin: (d) => {
      // An editor's save: a new file renamed over the one this step moved.
      fs.writeFileSync(join(d, 'to.new'), 'a new file the admin put there\n');
      fs.renameSync(join(d, 'to.new'), join(d, 'to'));
    },
    state: (d) => content(join(d, 'to')),
  },
  {
    name: 'remove of a file (a new file at its place)',
    setup: (d) => fs.writeFileSync(join(d, 'old.log'), 'removed by the step\n'),
    step: (d) => remove({ paths: [join(d, 'old.log')] }),
    admin: (d) => fs.writeFileSync(join(d, 'old.log'), 'a new log the admin started\n'),
    state: (d) => content(join(d, 'old.log')),
  },
  {
    name: 'remove of a directory with a keep list (a new directory at a staged place)',
    setup: (d) => {
      fs.mkdirSync(join(d, 'home', '.ssh'), { recursive: true });
      fs.mkdirSync(join(d, 'home', 'cache'));
      fs.writeFileSync(join(d, 'home', 'cache', 'old'), 'old\n');
      fs.writeFileSync(join(d, 'home', 'notes'), 'notes\n');
    },
    step: (d) => remove({ paths: [join(d, 'home')], keep: [join(d, 'home', '.ssh')], stagingDir: d }),
    admin: (d) => {
      fs.mkdirSync(join(d, 'home', 'cache'), { recursive: true });
      fs.writeFileSync(join(d, 'home', 'cache', 'new'), 'the admin\'s\n');
    },
    state: (d) => content(join(d, 'home', 'cache', 'new')),
  },
];

describe('a concurrent admin edit during a rollback is never reverted', () => {
  for (const c of cases) {
    it(`${c.name}: rollback-failed with UndoConflictError, the admin's change kept`, async () => {
      sb = filesSandbox();
      const d = sb.dir;
      c.setup(d);
      const decoy = sb.decoyState();
      let edited = false;
      const tx = transaction('cas', {
        journal: fileJournal({ root: sb.journal }),
        handleSignals: false,
        onEvent: (event) => {
          if (event.type === 'undo:start' && event.step === 0 && !edited) {
            edited = true;
            c.admin(d);
          }
        },
      });
      tx.add(c.step(d));
      tx.add(failingStep({ message: 'the update failed' }));
      const outcome = await tx.run();
      expect(edited).toBe(true);
      expect(outcome.status).toBe('rollback-failed');
      const undo = outcome.steps[0]!.undo!;
      expect(undo.error?.code).toBe('UNDO_CONFLICT');
      expect(undo.attempts).toBe(1); // a conflict is never retried
      const admin = filesSandbox();
      try {
        c.setup(admin.dir);
        c.admin(admin.dir);
        expect(c.state(d)).toEqual(c.state(admin.dir));
      } finally {
        admin.cleanup();
      }
      expect(sb.decoyState()).toEqual(decoy);
    });
  }
});

const repoRoot = resolve(import.meta.dirname, '..');

describe('an interrupted transaction, then a later committed change to the same file', () => {
  it('recover does not revert the later transaction\'s committed bytes: rollback-failed with UndoConflictError', async () => {
    sb = filesSandbox();
    const path = join(sb.dir, 'app.conf');
    fs.writeFileSync(path, 'original\n');
    const decoy = sb.decoyState();
    // The first transaction writes the file and is SIGKILLed right after its `done` record.
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'files-interrupted-write.ts'), sb.journal, path], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    expect(content(path)).toBe('first transaction\n');
    // A later transaction (its own journal root) commits a change to the same file.
    const later = join(sb.dir, '..', 'later-journal');
    fs.mkdirSync(later, { mode: 0o700 });
    const tx = transaction('later', { journal: fileJournal({ root: later }), handleSignals: false });
    tx.add(writeFile({ path, content: 'later, committed\n' }));
    expect((await tx.run()).status).toBe('committed');
    const report = await recover({ root: sb.journal, kinds: [...filesKinds] as AnyStepKind[] });
    const t = report.transactions[0]!;
    expect(t.result).toBe('rollback-failed');
    expect(t.error?.code).toBe('UNDO_CONFLICT');
    expect(t.steps[0]!.undo?.attempts).toBe(1);
    expect(content(path)).toBe('later, committed\n');
    expect(sb.decoyState()).toEqual(decoy);
  });
});
