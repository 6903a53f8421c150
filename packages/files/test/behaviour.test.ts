import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DurableWriteError, UndoConflictError, fileJournal, memoryJournal, transaction } from '@unwind/core';
import { failingStep, replaceFsFunction, testContext, treeState } from '@unwind/core/testing';
import { RestoreError, SymlinkRefusedError, TargetExistsError, ValidationCommandError, ensureDir, move, remove, writeFile } from '../src/index.js';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));
function dir(): string {
  const d = tempDir();
  cleanups.push(d.remove);
  return d.path;
}
function context() {
  const c = testContext();
  cleanups.push(c.dispose);
  return c.ctx;
}

describe('writeFile', () => {
  it('refuses a symlink at the target and leaves the link and what it points to alone', async () => {
    const d = dir();
    fs.writeFileSync(join(d, 'victim'), 'precious\n');
    fs.symlinkSync(join(d, 'victim'), join(d, 'app.conf'));
    const before = treeState(d);
    const tx = transaction('t', { journal: memoryJournal(), handleSignals: false });
    tx.add(writeFile({ path: join(d, 'app.conf'), content: 'evil' }));
    const result = await tx.run();
    expect(result.status).toBe('rolled-back');
    expect(result.status === 'rolled-back' && result.cause.name).toBe('SymlinkRefusedError');
    expect(treeState(d)).toEqual(before);
  });

  it('refuses a symlink planted between prepare and do', async () => {
    const d = dir();
    const ctx = context();
    const path = join(d, 'app.conf');
    fs.writeFileSync(path, 'old\n');
    const args = { path, content: 'new\n' };
    const before = await writeFile.definition.prepare(args, ctx);
    fs.writeFileSync(join(d, 'victim'), 'precious\n');
    fs.rmSync(path);
    fs.symlinkSync(join(d, 'victim'), path);
    await expect(writeFile.definition.do(args, before, ctx)).rejects.toBeInstanceOf(SymlinkRefusedError);
    expect(fs.readFileSync(join(d, 'victim'), 'utf8')).toBe('precious\n');
    expect(fs.readdirSync(d).sort()).toEqual(['app.conf', 'victim']); // no temp file left
    // Undo is compare-and-swap: the link is not what this step left, so nothing is touched (neither the link nor its target).
    await expect(writeFile.definition.undo(args, before, undefined, ctx)).rejects.toBeInstanceOf(UndoConflictError);
    expect(fs.readlinkSync(path)).toBe(join(d, 'victim'));
    expect(fs.readFileSync(join(d, 'victim'), 'utf8')).toBe('precious\n');
  });

  it('runs validate on the temp file before replacing anything; a rejection leaves the target untouched', async () => {
    const d = dir();
    const path = join(d, 'app.conf');
    fs.writeFileSync(path, 'good\n');
    const seen = join(d, '..', `${d.split('/').pop()}-seen`);
    cleanups.push(() => fs.rmSync(seen, { force: true }));
    const before = treeState(d);
    const tx = transaction('t', { journal: memoryJournal(), handleSignals: false });
    // `cp %s seen` proves the command got the temp path with the new bytes; `false` then rejects.
    tx.add(writeFile({ path, content: 'bad\n', validate: ['cp', '%s', seen] }));
    const ok = await tx.run();
    expect(ok.status).toBe('committed');
    expect(fs.readFileSync(seen, 'utf8')).toBe('bad\n');
    fs.writeFileSync(path, 'good\n');
    const tx2 = transaction('t', { journal: memoryJournal(), handleSignals: false });
    tx2.add(writeFile({ path, content: 'bad\n', validate: ['sh', '-c', 'echo "syntax error in $0" >&2; exit 1', '%s'] }));
    const rejected = await tx2.run();
    expect(rejected.status).toBe('rolled-back');
    expect(rejected.status === 'rolled-back' && rejected.cause.name).toBe('ValidationCommandError');
    expect(rejected.status === 'rolled-back' && JSON.stringify(rejected.cause)).toContain('syntax error');
    expect(treeState(d)).toEqual(before);
  });

  it('refuses a validate argv without %s before anything is touched', async () => {
    const d = dir();
    const tx = transaction('t', { journal: memoryJournal(), handleSignals: false });
    tx.add(writeFile({ path: join(d, 'x'), content: 'x', validate: ['true'] }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('refused');
    expect(fs.readdirSync(d)).toEqual([]);
  });

  it('keeps the backup in the journal directory, never beside the target', async () => {
    const d = dir();
    const root = join(dir(), 'journal');
    fs.mkdirSync(join(d, 'conf.d'));
    fs.writeFileSync(join(d, 'conf.d', 'app.conf'), 'old\n');
    const tx = transaction('t', { journal: fileJournal({ root, retention: 'keep' }), handleSignals: false });
    tx.add(writeFile({ path: join(d, 'conf.d', 'app.conf'), content: 'new\n' }));
    expect((await tx.run()).status).toBe('committed');
    expect(fs.readdirSync(join(d, 'conf.d'))).toEqual(['app.conf']);
    const blobs = treeState(root).filter((e) => e.type === 'file' && e.path.includes('/blobs/'));
    expect(blobs).toHaveLength(1);
    expect(blobs[0]!.mode).toBe(0o600);
  });

  it('treats an fsync failure as fatal: no retry, the target untouched, a non-retryable DurableWriteError from core', async () => {
    const d = dir();
    const path = join(d, 'app.conf');
    fs.writeFileSync(path, 'old\n');
    const before = treeState(d);
    let failures = 0;
    const restore = replaceFsFunction('fsyncSync', (realFsync) => (fd: number) => {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).includes('.unwind-')) {
        failures++;
        const error = new Error('EIO: i/o error, fsync') as NodeJS.ErrnoException;
        error.code = 'EIO';
        throw error;
      }
      return realFsync(fd);
    });
    try {
      const tx = transaction('t', { journal: memoryJournal(), handleSignals: false, retry: { do: { retries: 3, minTimeout: 1 } } });
      tx.add(writeFile({ path, content: 'new\n' }));
      const outcome = await tx.run();
      expect(outcome.status).toBe('rolled-back');
      expect(outcome.steps[0]!.error?.name).toBe('DurableWriteError');
      expect(outcome.steps[0]!.attempts).toBe(1);
      expect(failures).toBe(1);
    } finally {
      restore();
    }
    expect(new DurableWriteError('/x', 'fsync failed', new Error('EIO')).retryable).toBe(false);
    expect(treeState(d)).toEqual(before);
  });

  it('undo of a created file leaves content it did not write alone', async () => {
    const d = dir();
    const ctx = context();
    const args = { path: join(d, 'new.conf'), content: 'ours\n' };
    const before = await writeFile.definition.prepare(args, ctx);
    fs.writeFileSync(args.path, 'someone else\n');
    await expect(writeFile.definition.undo(args, before, undefined, ctx)).rejects.toBeInstanceOf(UndoConflictError);
    expect(fs.readFileSync(args.path, 'utf8')).toBe('someone else\n');
  });
});

describe('remove', () => {
  function tree(d: string) {
    fs.mkdirSync(join(d, 'home', 'alice', '.ssh'), { recursive: true });
    fs.mkdirSync(join(d, 'home', 'alice', 'src'), { recursive: true });
    fs.writeFileSync(join(d, 'home', 'alice', '.ssh', 'authorized_keys'), 'key\n');
    fs.writeFileSync(join(d, 'home', 'alice', 'src', 'main.c'), 'int main;\n');
    fs.writeFileSync(join(d, 'home', 'alice', 'notes'), 'n\n');
  }

  it('stages, keeps the keep list, deletes for good only at commit', async () => {
    const d = dir();
    tree(d);
    const events: string[] = [];
    const tx = transaction('t', { journal: memoryJournal(), handleSignals: false, onEvent: (e) => events.push(e.type) });
    tx.add(remove({ paths: [join(d, 'home', 'alice')], keep: [join(d, 'home', 'alice', '.ssh')] }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    expect(treeState(d).map((e) => e.path)).toEqual(['.', 'home', 'home/alice', 'home/alice/.ssh', 'home/alice/.ssh/authorized_keys']);
    expect(events).toContain('commit:done');
  });

  it('rolls back by renaming everything back, and the staging directory goes', async () => {
    const d = dir();
    tree(d);
    const before = treeState(d);
    const tx = transaction('t', { journal: memoryJournal(), handleSignals: false });
    tx.add(remove({ paths: [join(d, 'home', 'alice')], keep: [join(d, 'home', 'alice', '.ssh')] }));
    tx.add(failingStep({ message: 'later failure' }));
    expect((await tx.run()).status).toBe('rolled-back');
    expect(treeState(d)).toEqual(before);
  });

  it('removes a symlink itself, never what it points to', async () => {
    const d = dir();
    tree(d);
    fs.symlinkSync(join(d, 'home', 'alice'), join(d, 'shortcut'));
    const tx = transaction('t', { journal: memoryJournal(), handleSignals: false });
    tx.add(remove({ paths: [join(d, 'shortcut')] }));
    expect((await tx.run()).status).toBe('committed');
    expect(fs.existsSync(join(d, 'shortcut'))).toBe(false);
    expect(fs.readFileSync(join(d, 'home', 'alice', 'notes'), 'utf8')).toBe('n\n');
  });

  it('makes the staging directory 0700', async () => {
    const d = dir();
    tree(d);
    const ctx = context();
    const args = { paths: [join(d, 'home', 'alice')] };
    const before = await remove.definition.prepare(args, ctx);
    await remove.definition.do(args, before, ctx);
    expect(fs.lstatSync(before.staging).mode & 0o7777).toBe(0o700);
    expect(before.staging.startsWith(join(d, 'home', '.unwind-staging-'))).toBe(true);
    await remove.definition.undo(args, before, undefined, ctx);
  });

  it('a new file where a staged path belongs: UndoConflictError before anything moves back, nothing overwritten', async () => {
    const d = dir();
    tree(d);
    const ctx = context();
    const args = { paths: [join(d, 'home', 'alice', 'src'), join(d, 'home', 'alice', 'notes')] };
    const before = await remove.definition.prepare(args, ctx);
    const after = await remove.definition.do(args, before, ctx);
    fs.writeFileSync(join(d, 'home', 'alice', 'notes'), 'a new file in the way\n');
    const error = await remove.definition.undo(args, before, after, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UndoConflictError);
    expect(error).toMatchObject({ code: 'UNDO_CONFLICT', subject: join(d, 'home', 'alice', 'notes'), context: { staging: before.staging } });
    // Nothing moved back: the new file stays, both staged paths are safe in staging.
    expect(fs.readFileSync(join(d, 'home', 'alice', 'notes'), 'utf8')).toBe('a new file in the way\n');
    expect(fs.existsSync(join(d, 'home', 'alice', 'src'))).toBe(false);
    expect(fs.readFileSync(join(before.staging, '1'), 'utf8')).toBe('n\n');
    // Moving the new file away (the conflict resolved) lets the undo finish.
    fs.rmSync(join(d, 'home', 'alice', 'notes'));
    await remove.definition.undo(args, before, after, ctx);
    expect(fs.readFileSync(join(d, 'home', 'alice', 'notes'), 'utf8')).toBe('n\n');
    expect(fs.readFileSync(join(d, 'home', 'alice', 'src', 'main.c'), 'utf8')).toBe('int main;\n');
    expect(fs.existsSync(before.staging)).toBe(false);
  });

  it('if moving back fails, keeps the staging directory and says where everything is', async () => {
    const d = dir();
    tree(d);
    const ctx = context();
    const args = { paths: [join(d, 'home', 'alice', 'src', 'main.c'), join(d, 'home', 'alice', 'notes')], stagingDir: join(d, 'home') };
    const before = await remove.definition.prepare(args, ctx);
    const after = await remove.definition.do(args, before, ctx);
    fs.rmdirSync(join(d, 'home', 'alice', 'src')); // the place main.c belongs in is gone
    const error = await remove.definition.undo(args, before, after, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreError);
    const restoreError = error as RestoreError;
    expect(restoreError.remaining).toEqual([{ staged: join(before.staging, '0'), original: join(d, 'home', 'alice', 'src', 'main.c') }]);
    expect(restoreError.message).toContain(before.staging);
    expect(restoreError.message).toContain(`mv -T -- '${join(before.staging, '0')}' '${join(d, 'home', 'alice', 'src', 'main.c')}'`);
    expect(restoreError.retryable).toBe(false);
    // The other path went back; the one without a place is safe in staging.
    expect(fs.readFileSync(join(d, 'home', 'alice', 'notes'), 'utf8')).toBe('n\n');
    expect(fs.readFileSync(join(before.staging, '0'), 'utf8')).toBe('int main;\n');
    // Following the message's instructions puts everything back (a new directory is not the one the
    // entry came from, so undo does not move anything into it by itself).
    fs.mkdirSync(join(d, 'home', 'alice', 'src'));
    fs.renameSync(join(before.staging, '0'), join(d, 'home', 'alice', 'src', 'main.c'));
    await remove.definition.undo(args, before, after, ctx);
    expect(fs.readFileSync(join(d, 'home', 'alice', 'src', 'main.c'), 'utf8')).toBe('int main;\n');
    expect(fs.existsSync(before.staging)).toBe(false);
  });

  it('refuses to remove /, a keep path outside the group, or a staging dir inside the group, before touching anything', async () => {
    const d = dir();
    for (const args of [{ paths: ['/'] }, { paths: [join(d, 'a')], keep: [join(d, 'b')] }, { paths: [d], stagingDir: join(d, 'stage') }, { paths: [] }]) {
      const tx = transaction('t', { journal: memoryJournal(), handleSignals: false });
      tx.add(remove(args));
      expect((await tx.run()).status, JSON.stringify(args)).toBe('refused');
    }
  });
});

describe('ensureDir and move', () => {
  it('ensureDir undo removes only what it created and refuses to delete foreign files', async () => {
    const d = dir();
    const ctx = context();
    fs.mkdirSync(join(d, 'a'));
    const args = { path: join(d, 'a', 'b', 'c') };
    const before = await ensureDir.definition.prepare(args, ctx);
    expect(before.missing).toEqual([join(d, 'a', 'b'), join(d, 'a', 'b', 'c')]);
    await ensureDir.definition.do(args, before, ctx);
    fs.writeFileSync(join(d, 'a', 'b', 'c', 'foreign'), 'x');
    await expect(ensureDir.definition.undo(args, before, undefined, ctx)).rejects.toBeInstanceOf(UndoConflictError);
    expect(fs.existsSync(join(d, 'a', 'b', 'c', 'foreign'))).toBe(true);
    fs.rmSync(join(d, 'a', 'b', 'c', 'foreign'));
    await ensureDir.definition.undo(args, before, undefined, ctx);
    expect(fs.readdirSync(d)).toEqual(['a']);
    expect(fs.readdirSync(join(d, 'a'))).toEqual([]);
  });

  it('move refuses an existing destination', async () => {
    const d = dir();
    fs.writeFileSync(join(d, 'a'), 'a');
    fs.writeFileSync(join(d, 'b'), 'b');
    await expect(move.definition.prepare({ from: join(d, 'a'), to: join(d, 'b') }, context())).rejects.toBeInstanceOf(TargetExistsError);
  });

  it('ValidationCommandError is not retryable', () => {
    expect(new ValidationCommandError('/x', ['false', '%s'], new Error('exit 1')).retryable).toBe(false);
  });
});
