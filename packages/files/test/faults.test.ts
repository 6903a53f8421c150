import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type AnyStepKind, type Outcome } from '@unwind/core';
import { failingStep, requireHere, treeState } from '@unwind/core/testing';
import { CrossDeviceError, copy, move, remove, writeFile } from '../src/index.js';
import { cleanups } from './cleanups.js';
import { canMount, mountTmpfs, repoRoot, sh, tempDir } from './helpers.js';

// Faults on a real disk: each must leave nothing lost and a clear error.
const noMount = canMount();
if (noMount) console.warn(`files fault tests skipped: ${noMount}`);


function base(): string {
  const d = tempDir('unwind-files-fault-');
  cleanups.push(d.remove);
  return d.path;
}

function tmpfsAt(dir: string, size: string): void {
  fs.mkdirSync(dir, { recursive: true });
  cleanups.push(mountTmpfs(dir, size));
}

async function run(...steps: Array<ReturnType<AnyStepKind>>): Promise<Outcome> {
  const tx = transaction('fault', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
  for (const step of steps) tx.add(step);
  return tx.run();
}

function causeOf(outcome: Outcome): { name?: string; code?: string; message?: string } {
  return outcome.status === 'committed' ? {} : (outcome.cause as { name?: string; code?: string; message?: string });
}

function userTree(dir: string): void {
  fs.mkdirSync(join(dir, 'data', 'sub'), { recursive: true });
  fs.writeFileSync(join(dir, 'data', 'a.txt'), 'alpha\n', { mode: 0o640 });
  fs.chownSync(join(dir, 'data', 'a.txt'), 1000, 1000);
  fs.writeFileSync(join(dir, 'data', 'sub', 'b.bin'), Buffer.alloc(4096, 7));
  fs.symlinkSync('a.txt', join(dir, 'data', 'link'));
  fs.chmodSync(join(dir, 'data', 'sub'), 0o710);
}

describe('another filesystem (EXDEV: tmpfs)', () => {
  beforeAll(() => requireHere(noMount, 'mounting a tmpfs'));
  it('remove into a staging dir on another filesystem is refused before anything moves', async () => {
    const b = base();
    userTree(b);
    tmpfsAt(join(b, 'stage'), '64m');
    const before = treeState(join(b, 'data'));
    const outcome = await run(remove({ paths: [join(b, 'data')], stagingDir: join(b, 'stage') }));
    expect(outcome.status).toBe('rolled-back');
    expect(causeOf(outcome).name).toBe('CrossDeviceError');
    expect(causeOf(outcome).message).toMatch(/Nothing was moved.*allowCopy/);
    expect(treeState(join(b, 'data'))).toEqual(before);
    expect(fs.readdirSync(join(b, 'stage'))).toEqual([]);
  });

  it('a bind mount of the same filesystem (same st_dev) is still another mount: refused before anything moves', async () => {
    const b = base();
    userTree(b);
    fs.mkdirSync(join(b, 'stage-real'));
    fs.mkdirSync(join(b, 'stage'));
    sh(['mount', '--bind', join(b, 'stage-real'), join(b, 'stage')]);
    cleanups.push(() => spawnSync('umount', ['-l', join(b, 'stage')]));
    expect(fs.statSync(join(b, 'stage')).dev).toBe(fs.statSync(join(b, 'data')).dev);
    const before = treeState(join(b, 'data'));
    const outcome = await run(remove({ paths: [join(b, 'data')], stagingDir: join(b, 'stage') }));
    expect(causeOf(outcome).name).toBe('CrossDeviceError');
    expect(causeOf(outcome).message).toContain('cannot cross mounts');
    expect(treeState(join(b, 'data'))).toEqual(before);
    const moved = await run(move({ from: join(b, 'data'), to: join(b, 'stage', 'data') }));
    expect(causeOf(moved).name).toBe('CrossDeviceError');
    expect(treeState(join(b, 'data'))).toEqual(before);
  });

  it('with allowCopy: copy then delete, and a rollback brings back the exact tree (modes, owners, links)', async () => {
    const b = base();
    userTree(b);
    tmpfsAt(join(b, 'stage'), '64m');
    const before = treeState(b, { ignore: (p) => p.startsWith('stage/') });
    const rolledBack = await run(remove({ paths: [join(b, 'data')], stagingDir: join(b, 'stage'), allowCopy: true }), failingStep({ message: 'later failure' }));
    expect(rolledBack.status).toBe('rolled-back');
    expect(treeState(b, { ignore: (p) => p.startsWith('stage/') })).toEqual(before);
    expect(fs.readdirSync(join(b, 'stage'))).toEqual([]);

    const committed = await run(remove({ paths: [join(b, 'data')], stagingDir: join(b, 'stage'), allowCopy: true }));
    expect(committed.status).toBe('committed');
    expect(fs.existsSync(join(b, 'data'))).toBe(false);
    expect(fs.readdirSync(join(b, 'stage'))).toEqual([]);
  });

  it('a mount point inside the removed tree is refused (it would be emptied), nothing moves', async () => {
    const b = base();
    userTree(b);
    tmpfsAt(join(b, 'data', 'cache'), '8m');
    fs.writeFileSync(join(b, 'data', 'cache', 'c'), 'c');
    const outcome = await run(remove({ paths: [join(b, 'data')] }));
    expect(causeOf(outcome).name).toBe('CrossDeviceError');
    expect(causeOf(outcome).message).toContain(join(b, 'data', 'cache'));
    expect(fs.readFileSync(join(b, 'data', 'cache', 'c'), 'utf8')).toBe('c');
    expect(fs.readFileSync(join(b, 'data', 'a.txt'), 'utf8')).toBe('alpha\n');
  });

  it('move across filesystems is refused with CrossDeviceError', async () => {
    const b = base();
    userTree(b);
    tmpfsAt(join(b, 'other'), '8m');
    const before = treeState(b);
    const outcome = await run(move({ from: join(b, 'data'), to: join(b, 'other', 'data') }));
    expect(causeOf(outcome).name).toBe('CrossDeviceError');
    expect(treeState(b)).toEqual(before);
    expect(new CrossDeviceError('x', {}).retryable).toBe(false);
  });
});

describe("an overlay filesystem, as a container's root: its lower layer's directories cannot be renamed", () => {
  beforeAll(() => requireHere(noMount, 'mounting a tmpfs and an overlay'));

  /** An overlay mounted at the returned path: `lower` holds userTree's data (the image), upper and work are empty, all on a tmpfs. */
  function overlay(): string {
    const b = base();
    const layers = join(b, 'layers');
    tmpfsAt(layers, '64m');
    for (const dir of ['lower', 'upper', 'work']) fs.mkdirSync(join(layers, dir));
    userTree(join(layers, 'lower'));
    const merged = join(b, 'merged');
    fs.mkdirSync(merged);
    sh(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${join(layers, 'lower')},upperdir=${join(layers, 'upper')},workdir=${join(layers, 'work')}`, merged]);
    cleanups.push(() => spawnSync('umount', ['-l', merged]));
    return merged;
  }

  it('without allowCopy: a clear CrossDeviceError that names the overlay and allowCopy, the tree as it was', async () => {
    const merged = overlay();
    const before = treeState(merged);
    const outcome = await run(remove({ paths: [join(merged, 'data')] }));
    expect(outcome.status).toBe('rolled-back');
    expect(causeOf(outcome).name).toBe('CrossDeviceError');
    expect(causeOf(outcome).message).toMatch(/overlay filesystem's lower layer.*allowCopy: true/);
    expect(treeState(merged)).toEqual(before);
    const moved = await run(move({ from: join(merged, 'data'), to: join(merged, 'elsewhere') }));
    expect(causeOf(moved).message).toMatch(/overlay filesystem's lower layer.*; nothing was moved$/);
    expect(treeState(merged)).toEqual(before);
  });

  it('with allowCopy: copied into staging then deleted; a rollback brings back the exact tree, a commit removes it', async () => {
    const merged = overlay();
    const before = treeState(merged);
    const rolledBack = await run(remove({ paths: [join(merged, 'data')], allowCopy: true }), failingStep({ message: 'later failure' }));
    expect(rolledBack.status).toBe('rolled-back');
    expect(treeState(merged)).toEqual(before);
    const committed = await run(remove({ paths: [join(merged, 'data')], allowCopy: true }));
    expect(committed.status).toBe('committed');
    expect(fs.readdirSync(merged)).toEqual([]);
  });

  it('a directory made in the upper layer still moves by rename, without allowCopy', async () => {
    const merged = overlay();
    fs.mkdirSync(join(merged, 'fresh', 'inner'), { recursive: true });
    fs.writeFileSync(join(merged, 'fresh', 'inner', 'f'), 'new\n');
    const outcome = await run(remove({ paths: [join(merged, 'fresh')] }));
    expect(outcome.status).toBe('committed');
    expect(fs.readdirSync(merged)).toEqual(['data']);
  });
});

describe('a full disk (ENOSPC: 1 MiB tmpfs)', () => {
  beforeAll(() => requireHere(noMount, 'mounting a tmpfs'));
  it('writeFile past the end fails, the old file is intact and no temp file is left', async () => {
    const b = base();
    const small = join(b, 'small');
    tmpfsAt(small, '1m');
    fs.writeFileSync(join(small, 'app.conf'), 'old\n', { mode: 0o640 });
    const before = treeState(small);
    const outcome = await run(writeFile({ path: join(small, 'app.conf'), content: 'x'.repeat(2 * 1024 * 1024) }));
    expect(outcome.status).toBe('rolled-back');
    expect(causeOf(outcome).code).toBe('DURABLE_WRITE'); // core's durable write: every byte written, or this error
    expect(causeOf(outcome).message).toContain('ENOSPC');
    expect(treeState(small)).toEqual(before);
  });

  it('copy-then-delete into a full staging filesystem fails during the copy; the originals stay, the partial copy goes', async () => {
    const b = base();
    fs.mkdirSync(join(b, 'big'));
    for (let i = 0; i < 4; i++) fs.writeFileSync(join(b, 'big', `f${i}`), Buffer.alloc(512 * 1024, i));
    tmpfsAt(join(b, 'stage'), '1m');
    const before = treeState(join(b, 'big'));
    const outcome = await run(remove({ paths: [join(b, 'big')], stagingDir: join(b, 'stage'), allowCopy: true }));
    expect(outcome.status).toBe('rolled-back');
    expect(causeOf(outcome).code).toBe('ENOSPC');
    expect(treeState(join(b, 'big'))).toEqual(before);
    expect(fs.readdirSync(join(b, 'stage'))).toEqual([]);
  });
});

describe('permission denied and read-only targets', () => {
  beforeAll(() => requireHere(noMount, 'mounting a tmpfs'));
  function readOnlyView(b: string): string {
    const real = join(b, 'real');
    const view = join(b, 'view');
    fs.mkdirSync(view);
    sh(['mount', '--bind', real, view]);
    cleanups.push(() => spawnSync('umount', ['-l', view]));
    sh(['mount', '-o', 'remount,bind,ro', view]);
    return view;
  }

  it('a read-only bind mount: writeFile, copy and remove fail with EROFS and change nothing', async () => {
    const b = base();
    fs.mkdirSync(join(b, 'real'));
    userTree(join(b, 'real'));
    fs.writeFileSync(join(b, 'real', 'app.conf'), 'old\n');
    fs.writeFileSync(join(b, 'src'), 'new\n');
    const view = readOnlyView(b);
    const before = treeState(join(b, 'real'));
    for (const step of [
      writeFile({ path: join(view, 'app.conf'), content: 'new\n' }),
      writeFile({ path: join(view, 'fresh.conf'), content: 'new\n' }),
      copy({ source: join(b, 'src'), path: join(view, 'app.conf') }),
      remove({ paths: [join(view, 'data', 'a.txt'), join(view, 'data', 'sub')] }),
    ]) {
      const outcome = await run(step);
      expect(outcome.status, step.kind.type).toBe('rolled-back');
      expect(causeOf(outcome).code, step.kind.type).toBe('EROFS');
      expect(treeState(join(b, 'real')), step.kind.type).toEqual(before);
    }
  });

  it('a directory that becomes read-only while staged: undo fails with the list of staged paths; nothing is lost', async () => {
    const b = base();
    fs.mkdirSync(join(b, 'real'));
    userTree(join(b, 'real'));
    const before = treeState(join(b, 'real'), { ignore: (p) => p.startsWith('.unwind-staging') });
    // Stage through the writable path, then make that path read-only before the rollback.
    const real = join(b, 'real');
    let stagingPath = '';
    const tx = transaction('fault', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
    tx.add(remove({ paths: [join(real, 'data')] }));
    tx.add(failingStep({ message: 'fail after staging' }));
    tx.on((e) => {
      if (e.type === 'step:failed') {
        stagingPath = fs.readdirSync(real).find((n) => n.startsWith('.unwind-staging'))!;
        sh(['mount', '--bind', real, real]);
        cleanups.push(() => spawnSync('umount', ['-l', real]));
        sh(['mount', '-o', 'remount,bind,ro', real]);
      }
    });
    const outcome = await tx.run();
    expect(outcome.status).toBe('rollback-failed');
    const error = outcome.status === 'rollback-failed' ? outcome.undoError : undefined;
    expect(error?.name).toBe('RestoreError');
    expect(error?.message).toContain(`mv -T -- '${join(real, stagingPath, '0')}' '${join(real, 'data')}'`);
    // Follow the instructions once the filesystem is writable again.
    spawnSync('umount', ['-l', real]);
    fs.renameSync(join(real, stagingPath, '0'), join(real, 'data'));
    fs.rmdirSync(join(real, stagingPath));
    expect(treeState(real)).toEqual(before);
  });

  it('an immutable target (chattr +i): writeFile fails with EPERM, the file and its directory are as before', async () => {
    const b = base();
    const path = join(b, 'app.conf');
    fs.writeFileSync(path, 'old\n');
    const attr = spawnSync('chattr', ['+i', path], { encoding: 'utf8' });
    // No silent pass: a file system without the immutable attribute fails this test.
    expect(attr.status, `chattr +i failed: ${attr.stderr}`).toBe(0);
    cleanups.push(() => spawnSync('chattr', ['-i', path]));
    const before = treeState(b);
    const outcome = await run(writeFile({ path, content: 'new\n' }));
    expect(outcome.status).toBe('rolled-back');
    expect(causeOf(outcome).code).toBe('EPERM');
    expect(treeState(b)).toEqual(before);
  });

  it('a non-root process without write permission gets EACCES and changes nothing', async () => {
    const b = base();
    fs.chmodSync(b, 0o755);
    fs.writeFileSync(join(b, 'app.conf'), 'old\n');
    const before = treeState(b);
    const script = join(b, 'child.mjs');
    // The child runs the sources through tsx (cwd = repository root, where tsx resolves).
    fs.writeFileSync(script, [
      `import { transaction, memoryJournal } from ${JSON.stringify(join(repoRoot, 'packages', 'core', 'src', 'index.ts'))};`,
      `import { writeFile } from ${JSON.stringify(join(repoRoot, 'packages', 'files', 'src', 'index.ts'))};`,
      `const tx = transaction('t', { journal: memoryJournal(), handleSignals: false });`,
      `tx.add(writeFile({ path: ${JSON.stringify(join(b, 'app.conf'))}, content: 'new' }));`,
      `const o = await tx.run(); console.log(JSON.stringify({ status: o.status, code: o.cause?.code }));`,
    ].join('\n'));
    fs.chmodSync(script, 0o644);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', script], { encoding: 'utf8', cwd: repoRoot });
    // No silent pass: without setpriv this test fails.
    expect(r.error, 'setpriv (util-linux) must be installed').toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ status: 'rolled-back', code: 'EACCES' });
    fs.rmSync(script);
    expect(treeState(b)).toEqual(before);
  });
});
