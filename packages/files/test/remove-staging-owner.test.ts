import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failingStep, testContext, treeState } from '@unwind/core/testing';
import { remove } from '../src/index.js';
import { canMount, mountTmpfs, tempDir } from './helpers.js';
import { ALICE, cleanups, hook, run } from './hostile.js';

// files.remove whose staging location is a sticky world-writable directory (a /tmp) on another filesystem
// than what it removes: a user can make entries there, so the step's staging name may be hers.
const noMount = canMount();
if (noMount) console.warn(`staging owner tests skipped: ${noMount}`);

/** Root's data to remove, and a sticky 1777 tmpfs as the staging location. */
function world(): { data: string; tmp: string } {
  const d = tempDir('unwind-files-staging-owner-');
  cleanups.push(d.remove);
  const data = join(d.path, 'srv', 'data'), tmp = join(d.path, 'tmp');
  fs.mkdirSync(join(data, 'sub'), { recursive: true });
  fs.writeFileSync(join(data, 'config'), 'root config\n', { mode: 0o644 });
  fs.writeFileSync(join(data, 'sub', 'key'), 'root key\n', { mode: 0o600 });
  fs.mkdirSync(tmp);
  cleanups.push(mountTmpfs(tmp, '16m'));
  fs.chmodSync(tmp, 0o1777);
  return { data, tmp };
}

/** Her tree at `staging`, as a finished copy of `original` would look: `0/` and its `0.copied` marker, all hers. */
function plant(staging: string, original: string): void {
  fs.mkdirSync(join(staging, '0'), { recursive: true, mode: 0o755 });
  fs.writeFileSync(join(staging, '0', 'config'), 'alice was here\n');
  fs.writeFileSync(join(staging, '0.copied'), original);
  for (const p of [staging, join(staging, '0'), join(staging, '0', 'config'), join(staging, '0.copied')]) fs.chownSync(p, ALICE, ALICE);
}

/** Plants her tree at the staging name the moment the step makes it (she could have made it any time before). */
function plantAtMkdir(w: { data: string; tmp: string }): { staging: string } {
  const planted = { staging: '' };
  hook('mkdirSync', (real) => (path, ...rest) => {
    const name = basename(String(path));
    if (planted.staging === '' && name.startsWith('.unwind-staging-')) {
      planted.staging = join(w.tmp, name);
      plant(planted.staging, w.data);
    }
    return real(path, ...rest);
  });
  return planted;
}

describe.skipIf(noMount)('files.remove: a staging directory another user made', () => {
  it('do refuses her directory, and the undo that follows acts on nothing in it: root\'s original stays, her tree stays hers', async () => {
    const w = world();
    const dataBefore = treeState(w.data);
    const planted = plantAtMkdir(w);
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.tmp, allowCopy: true }));
    expect(planted.staging).not.toBe('');
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.cause.name).toBe('UnexpectedFileTypeError');
    // Root's original is untouched: not deleted, not replaced by her copy.
    expect(treeState(w.data)).toEqual(dataBefore);
    expect(fs.readFileSync(join(w.data, 'config'), 'utf8')).toBe('root config\n');
    // Her directory is hers to clean up; nothing in it was moved or deleted.
    expect(fs.readFileSync(join(planted.staging, '0', 'config'), 'utf8')).toBe('alice was here\n');
    expect(fs.lstatSync(join(planted.staging, '0.copied')).uid).toBe(ALICE);
  });

  it('an undo that finds her directory at the staging name (ours gone) leaves it alone, and moves nothing of hers into root\'s place', async () => {
    const w = world();
    const { ctx, dispose } = testContext();
    cleanups.push(dispose);
    const args = { paths: [w.data], stagingDir: w.tmp, allowCopy: true };
    const before = await remove.definition.prepare(args, ctx);
    // `do` never ran here: only her directory is at the staging name.
    plant(before.staging, w.data);
    const dataBefore = treeState(w.data);
    await remove.definition.undo(args, before, undefined, ctx);
    await remove.definition.verifyUndo!(args, before, ctx);
    expect(treeState(w.data)).toEqual(dataBefore);
    expect(fs.readFileSync(join(before.staging, '0', 'config'), 'utf8')).toBe('alice was here\n');
  });

  it('our own staging directory opened to others since do is not trusted: UndoConflictError, nothing moved or deleted', async () => {
    const w = world();
    const { ctx, dispose } = testContext();
    cleanups.push(dispose);
    const args = { paths: [w.data], stagingDir: w.tmp, allowCopy: true };
    const before = await remove.definition.prepare(args, ctx);
    const after = await remove.definition.do(args, before, ctx);
    expect(fs.existsSync(w.data)).toBe(false);
    fs.chmodSync(before.staging, 0o777);
    const error = await remove.definition.undo(args, before, after, ctx).catch((e: unknown) => e);
    expect((error as Error).name).toBe('UndoConflictError');
    expect(fs.existsSync(w.data)).toBe(false);
    expect(fs.readFileSync(join(before.staging, '0', 'config'), 'utf8')).toBe('root config\n');
    // Once the directory is private again, the undo puts everything back.
    fs.chmodSync(before.staging, 0o700);
    await remove.definition.undo(args, before, after, ctx);
    expect(fs.readFileSync(join(w.data, 'config'), 'utf8')).toBe('root config\n');
    expect(fs.existsSync(before.staging)).toBe(false);
  });

  it('a staging directory of ours still rolls back: the copy across filesystems is put back, the staging directory removed', async () => {
    const w = world();
    const dataBefore = treeState(w.data);
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.tmp, allowCopy: true }), failingStep({ message: 'later failure' }));
    expect(outcome.status).toBe('rolled-back');
    expect(treeState(w.data)).toEqual(dataBefore);
    expect(fs.readdirSync(w.tmp)).toEqual([]);
  });
});
