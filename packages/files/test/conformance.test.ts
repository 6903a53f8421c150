import * as fs from 'node:fs';
import { join } from 'node:path';
import { conformanceSuite } from '@unwind/core/testing';
import { chmod, chown, copy, ensureDir, move, remove, symlink, writeFile } from '../src/index.js';
import { isRoot, sandbox } from './helpers.js';

// Every kind on a real disk, in temp directories. Owner changes need root.
const needRoot = isRoot ? false : 'not root: owner changes (chown to other uids) need root';

conformanceSuite(writeFile, {
  cannotRun: needRoot,
  setup: sandbox(
    (dir) => {
      fs.writeFileSync(join(dir, 'a.conf'), 'old content\n', { mode: 0o640 });
      fs.chownSync(join(dir, 'a.conf'), 1000, 1000);
      return { path: join(dir, 'a.conf'), content: 'new content\n', mode: 0o600, uid: 0, gid: 0, validate: ['test', '-s', '%s'] };
    },
    // A crash after the rename but before `done` was journaled.
    { partialDo: (dir) => fs.writeFileSync(join(dir, 'a.conf'), 'new content\n') },
  ),
});

conformanceSuite(writeFile, {
  setup: sandbox(
    (dir) => ({ path: join(dir, 'new.conf'), content: Buffer.from([0, 1, 2, 255]).toString('base64'), encoding: 'base64' as const }),
    { partialDo: (dir) => fs.writeFileSync(join(dir, 'new.conf'), Buffer.from([0, 1, 2, 255])) },
  ),
});

conformanceSuite(copy, {
  cannotRun: needRoot,
  setup: sandbox((dir) => {
    fs.writeFileSync(join(dir, 'src.bin'), 'binary\n');
    fs.writeFileSync(join(dir, 'app'), 'old app\n', { mode: 0o700 });
    return { source: join(dir, 'src.bin'), path: join(dir, 'app'), mode: 0o755, uid: 1000, gid: 1000 };
  }),
});

conformanceSuite(ensureDir, {
  cannotRun: needRoot,
  setup: sandbox(
    (dir) => ({ path: join(dir, 'a', 'b', 'c'), mode: 0o750, uid: 1000, gid: 1000 }),
    { partialDo: (dir) => fs.mkdirSync(join(dir, 'a', 'b'), { recursive: true }) },
  ),
});

conformanceSuite(ensureDir, {
  setup: sandbox(
    (dir) => {
      fs.mkdirSync(join(dir, 'existing'), { mode: 0o700 });
      fs.chmodSync(join(dir, 'existing'), 0o700);
      return { path: join(dir, 'existing'), mode: 0o755 };
    },
    { breakChange: (dir) => fs.chmodSync(join(dir, 'existing'), 0o700) },
  ),
});

conformanceSuite(chmod, {
  setup: sandbox((dir) => {
    fs.writeFileSync(join(dir, 'key'), 'secret', { mode: 0o644 });
    fs.chmodSync(join(dir, 'key'), 0o644);
    return { path: join(dir, 'key'), mode: 0o600 };
  }),
});

// A set-uid program only root can change keeps its bit through do and undo while root keeps owning it
// (handed to another owner, who could then rewrite it, undo would refuse to make it root's and set-uid again).
conformanceSuite(chown, {
  cannotRun: needRoot,
  setup: sandbox((dir) => {
    fs.writeFileSync(join(dir, 'tool'), '#!/bin/sh\n', { mode: 0o4755 });
    fs.chmodSync(join(dir, 'tool'), 0o4755);
    return { path: join(dir, 'tool'), gid: 1000 };
  }),
});

conformanceSuite(chown, {
  cannotRun: needRoot,
  setup: sandbox((dir) => {
    fs.writeFileSync(join(dir, 'data'), 'data\n', { mode: 0o640 });
    fs.chmodSync(join(dir, 'data'), 0o640);
    return { path: join(dir, 'data'), uid: 1000, gid: 1000 };
  }),
});

conformanceSuite(symlink, {
  setup: sandbox((dir) => ({ path: join(dir, 'current'), target: 'releases/1' })),
});

conformanceSuite(symlink, {
  setup: sandbox((dir) => {
    fs.symlinkSync('releases/1', join(dir, 'current'));
    return { path: join(dir, 'current'), target: 'releases/2' };
  }),
});

conformanceSuite(move, {
  setup: sandbox((dir) => {
    fs.mkdirSync(join(dir, 'from', 'inner'), { recursive: true });
    fs.writeFileSync(join(dir, 'from', 'inner', 'f'), 'x');
    fs.mkdirSync(join(dir, 'other'));
    return { from: join(dir, 'from'), to: join(dir, 'other', 'to') };
  }),
});

function removeTree(dir: string) {
  fs.mkdirSync(join(dir, 'home', 'alice', '.ssh'), { recursive: true });
  fs.mkdirSync(join(dir, 'home', 'alice', 'src', 'deep'), { recursive: true });
  fs.writeFileSync(join(dir, 'home', 'alice', '.ssh', 'authorized_keys'), 'ssh-ed25519 AAAA\n', { mode: 0o600 });
  fs.writeFileSync(join(dir, 'home', 'alice', 'src', 'deep', 'main.c'), 'int main;\n');
  fs.writeFileSync(join(dir, 'home', 'alice', 'notes.txt'), 'notes\n');
  fs.symlinkSync('/etc/passwd', join(dir, 'home', 'alice', 'link'));
  fs.writeFileSync(join(dir, 'mail'), 'mail\n');
}

conformanceSuite(remove, {
  setup: sandbox(
    (dir) => {
      removeTree(dir);
      return { paths: [join(dir, 'home', 'alice'), join(dir, 'mail')], keep: [join(dir, 'home', 'alice', '.ssh')] };
    },
    {
      // Plan: alice/link, alice/notes.txt, alice/src, mail → staged 0..3; a crash after the first two renames.
      partialDo: (dir) => {
        const staging = join(dir, 'home', '.unwind-staging-test-0');
        fs.mkdirSync(staging, { mode: 0o700 });
        fs.renameSync(join(dir, 'home', 'alice', 'link'), join(staging, '0'));
        fs.renameSync(join(dir, 'home', 'alice', 'notes.txt'), join(staging, '1'));
      },
    },
  ),
});
