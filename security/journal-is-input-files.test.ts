import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { recover } from '@unwind/core';
import { kinds as filesKinds } from '@unwind/files';
import { kinds as snapshotKinds } from '@unwind/snapshots';
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
