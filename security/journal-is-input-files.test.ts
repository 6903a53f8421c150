import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, recover, transaction } from '@unwind/core';
import { treeState } from '@unwind/core/testing';
import { kinds as filesKinds, remove } from '@unwind/files';
import { create as createSnapshot, pin, prune, restore as restoreSnapshot, snapshot, kinds as snapshotKinds } from '@unwind/snapshots';
import { craftFilesJournal, filesSandbox, type CraftedFileStep, type FilesSandbox } from './files-sandbox.js';

// Crafted journals (valid checksums) for the files and snapshots kinds: a
// before-state naming a temp file, blob, staging directory, created
// directory or snapshot store the step could not have written is refused
// before any undo or commit acts; the decoy tree outside the sandbox and the
// sandbox itself stay exactly as they were.

let sb: FilesSandbox | undefined;
afterEach(() => {
  sb?.cleanup();
  sb = undefined;
});

const hex = 'ab'.repeat(16);

async function recoverCrafted(make: (s: FilesSandbox) => CraftedFileStep, options: { commitPoint?: boolean } = {}) {
  sb = filesSandbox();
  const s = sb;
  fs.writeFileSync(join(s.dir, 'app.conf'), 'ours\n');
  const decoy = s.decoyState();
  const tree = fs.readdirSync(s.dir).sort();
  craftFilesJournal(s.journal, [make(s)], options);
  const report = await recover({ root: s.journal, kinds: [...filesKinds, ...snapshotKinds] });
  const t = report.transactions[0]!;
  expect(t.result, t.error?.message).toBe('error');
  expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
  expect(s.decoyState()).toEqual(decoy);
  expect(fs.readdirSync(s.dir).sort()).toEqual(tree);
  return t;
}

describe('the journal is input: files and snapshots kinds', () => {
  it('writeFile whose temp name is a file outside the target directory (undo would unlink it): refused', async () => {
    await recoverCrafted((s) => ({ type: 'files.writeFile', args: { path: join(s.dir, 'app.conf'), content: 'x' }, before: { existed: false, temp: join(s.decoy, 'shadow') } }));
  });

  it('writeFile whose temp name is in the right directory but not the kind\'s own pattern: refused', async () => {
    await recoverCrafted((s) => ({ type: 'files.writeFile', args: { path: join(s.dir, 'new.conf'), content: 'x' }, before: { existed: false, temp: join(s.dir, 'app.conf') } }));
  });

  it('copy whose before-state blob name climbs out of the blob store: refused', async () => {
    await recoverCrafted((s) => ({
      type: 'files.copy',
      args: { source: join(s.decoy, 'etc', 'passwd'), path: join(s.dir, 'app.conf') },
      before: { existed: true, temp: join(s.dir, `.app.conf.unwind-${hex}`), mode: 0o644, uid: 0, gid: 0, size: 5, sha256: hex + hex, blob: '../../../../shadow' },
    }));
  });

  it('symlink whose temp name points at the decoy: refused', async () => {
    await recoverCrafted((s) => ({ type: 'files.symlink', args: { path: join(s.dir, 'current'), target: 'x' }, before: { existed: false, temp: join(s.decoy, 'etc', 'passwd') } }));
  });

  it('ensureDir whose created directories include one outside its path (undo would rmdir it): refused', async () => {
    await recoverCrafted((s) => ({ type: 'files.ensureDir', args: { path: join(s.dir, 'a') }, before: { missing: [join(s.decoy, 'store'), join(s.dir, 'a')], existing: null } }));
  });

  it('remove whose staging directory is the decoy store, past the commit point (commit would delete it): refused', async () => {
    await recoverCrafted(
      (s) => ({ type: 'files.remove', args: { paths: [join(s.dir, 'app.conf')] }, before: { staging: join(s.decoy, 'store'), entries: [], kept: [], missing: [] }, after: { moved: 0 } }),
      { commitPoint: true },
    );
  });

  it('remove whose staged entry moves a decoy file back over a sandbox path: refused', async () => {
    await recoverCrafted((s) => ({
      type: 'files.remove',
      args: { paths: [join(s.dir, 'gone')] },
      before: { staging: join(s.dir, '.unwind-staging-x-0'), entries: [{ original: join(s.decoy, 'etc'), staged: join(s.decoy, 'shadow'), method: 'rename' }], kept: [], missing: [] },
    }));
  });

  it('snapshot kept "in the journal" whose store is the decoy, past the commit point (commit would delete a snapshot there): refused', async () => {
    await recoverCrafted(
      (s) => ({ type: 'snapshots.snapshot', args: { path: s.dir }, before: { store: join(s.decoy, 'store'), id: '20261203T000000000Z-0badc0de', inJournal: true }, after: { id: '20261203T000000000Z-0badc0de' } }),
      { commitPoint: true },
    );
  });

  it('snapshot whose store differs from its arguments\' store: refused', async () => {
    await recoverCrafted((s) => ({ type: 'snapshots.snapshot', args: { path: s.dir, store: join(s.dir, '..', 'snaps') }, before: { store: join(s.decoy, 'store'), id: '20261203T000000000Z-0badc0de', inJournal: false } }));
  });
});

describe('a snapshot store or staging directory someone else can change is refused (exit 4), existing ones too', () => {
  const unsafe: Array<[string, (path: string, s: FilesSandbox) => void]> = [
    ['group-writable', (path) => fs.chmodSync(path, 0o770)],
    ['owned by another uid', (path) => fs.chownSync(path, 4242, 4242)],
    ['a symlink to a private directory', (path, s) => {
      fs.rmSync(path, { recursive: true, force: true });
      fs.mkdirSync(join(s.decoy, 'real-store'), { mode: 0o700 });
      fs.symlinkSync(join(s.decoy, 'real-store'), path);
    }],
  ];

  for (const [name, spoil] of unsafe) {
    it(`a snapshot store ${name}: create, restore, prune and pin refuse with UNSAFE_DIRECTORY; nothing changed`, async () => {
      sb = filesSandbox();
      const s = sb;
      fs.writeFileSync(join(s.dir, 'a'), 'a\n');
      const store = join(s.dir, '..', 'store');
      const snap = await createSnapshot({ source: s.dir, store });
      fs.writeFileSync(join(s.dir, 'a'), 'changed since\n');
      if (name.startsWith('a symlink')) fs.renameSync(store, join(s.decoy, 'moved-store')); // the real one, out of the way
      spoil(store, s);
      const decoy = s.decoyState();
      const tree = treeState(s.dir);
      const storeState = treeState(store);
      for (const attempt of [
        () => createSnapshot({ source: s.dir, store }),
        () => restoreSnapshot({ store, id: snap.id, path: s.dir }),
        async () => prune(store, { keepLast: 0 }),
        async () => pin(store, snap.id, 'someone'),
      ]) {
        await expect(attempt()).rejects.toMatchObject({ code: 'UNSAFE_DIRECTORY' });
      }
      // The snapshot step of a transaction: refused, the tree untouched.
      const tx = transaction('snap', { journal: memoryJournal(), handleSignals: false });
      tx.add(snapshot({ path: s.dir, store }));
      const outcome = await tx.run();
      expect(outcome.status).not.toBe('committed');
      expect(JSON.stringify(outcome)).toContain('UNSAFE_DIRECTORY');
      expect(treeState(s.dir)).toEqual(tree);
      expect(treeState(store)).toEqual(storeState);
      expect(s.decoyState()).toEqual(decoy);
    });
  }

  for (const [name, spoil] of unsafe.slice(0, 2)) {
    it(`remove staging in a location ${name}: refused with UNSAFE_DIRECTORY, nothing moved`, async () => {
      sb = filesSandbox();
      const s = sb;
      const base = join(s.dir, 'stage-here');
      fs.mkdirSync(base, { mode: 0o755 });
      fs.writeFileSync(join(s.dir, 'old.log'), 'old\n');
      spoil(base, s);
      const decoy = s.decoyState();
      const tree = treeState(s.dir);
      const tx = transaction('remove', { journal: memoryJournal(), handleSignals: false });
      tx.add(remove({ paths: [join(s.dir, 'old.log')], stagingDir: base }));
      const outcome = await tx.run();
      expect(outcome.status).toBe('rolled-back');
      expect(outcome.steps[0]?.error?.code).toBe('UNSAFE_DIRECTORY');
      expect(treeState(s.dir)).toEqual(tree);
      expect(s.decoyState()).toEqual(decoy);
    });
  }
});

describe('a journaled blob that is not a regular file in its step\'s blob directory is refused before any undo acts', () => {
  const blob = `before-${'cd'.repeat(16)}`;
  const plants: Array<[string, (blobs: string, s: FilesSandbox) => void]> = [
    ['a symlink to a secret outside', (blobs, s) => fs.symlinkSync(join(s.decoy, 'shadow'), join(blobs, blob))],
    ['a directory', (blobs) => fs.mkdirSync(join(blobs, blob))],
    ['missing', () => {}],
    ['in a blob directory that is a symlink', (blobs, s) => {
      fs.rmSync(blobs, { recursive: true });
      fs.mkdirSync(join(s.decoy, 'blobs'));
      fs.writeFileSync(join(s.decoy, 'blobs', blob), 'planted\n');
      fs.symlinkSync(join(s.decoy, 'blobs'), blobs);
    }],
  ];
  for (const [name, plant] of plants) {
    it(`${name}: UNTRUSTED_JOURNAL; the later step's undo (a chmod) did not act either`, async () => {
      sb = filesSandbox();
      const s = sb;
      const conf = join(s.dir, 'app.conf');
      const key = join(s.dir, 'key');
      fs.writeFileSync(conf, 'current\n');
      fs.writeFileSync(key, 'k', { mode: 0o600 });
      fs.chmodSync(key, 0o600);
      const { directory } = craftFilesJournal(s.journal, [
        { type: 'files.writeFile', args: { path: conf, content: 'current\n' }, before: { existed: true, temp: join(s.dir, `.app.conf.unwind-${'ef'.repeat(16)}`), mode: 0o644, uid: 0, gid: 0, size: 4, sha256: 'ab'.repeat(32), blob } },
        // Valid on its own: undone first (newest first), it would put the key back to 0644.
        { type: 'files.chmod', args: { path: key, mode: 0o600 }, before: { mode: 0o644 }, after: null },
      ]);
      const blobs = join(directory, 'blobs', '0');
      fs.mkdirSync(blobs, { recursive: true, mode: 0o700 });
      plant(blobs, s);
      const decoy = s.decoyState();
      const tree = treeState(s.dir);
      const report = await recover({ root: s.journal, kinds: [...filesKinds] });
      const t = report.transactions[0]!;
      expect(t.result, t.error?.message).toBe('error');
      expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
      expect(fs.statSync(key).mode & 0o7777).toBe(0o600);
      expect(treeState(s.dir)).toEqual(tree);
      expect(s.decoyState()).toEqual(decoy);
    });
  }
});
