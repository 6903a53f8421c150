import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UndoConflictError } from '@unwind/core';
import { replaceFsFunction, testContext, type FsFunctionName } from '@unwind/core/testing';
import { TargetChangedError, move, symlink } from '../src/index.js';
import { tempDir } from './helpers.js';
import { ALICE, cleanups, hook } from './hostile.js';

// symlink's and move's undo (and move's do) where a user owns the directory they work in and renames
// things in it at the worst moment: between root's look at an entry and its act on that entry by name.

/** Her app directory (hers, 0755, not sticky) beside a directory only root can write, and a root-only file. */
function world(): { base: string; app: string; srv: string; shadow: string } {
  const d = tempDir('unwind-files-hostile-undo-');
  cleanups.push(d.remove);
  const app = join(d.path, 'home', 'alice', 'app'), srv = join(d.path, 'srv'), shadow = join(d.path, 'sys', 'shadow');
  fs.mkdirSync(app, { recursive: true, mode: 0o755 });
  fs.chownSync(join(d.path, 'home', 'alice'), ALICE, ALICE);
  fs.chownSync(app, ALICE, ALICE);
  fs.mkdirSync(srv, { mode: 0o755 });
  fs.mkdirSync(join(d.path, 'sys'));
  fs.writeFileSync(shadow, 'root:$6$secret:...\n', { mode: 0o600 });
  return { base: d.path, app, srv, shadow };
}

/** A directory of hers in her app directory, with a file of hers in it. */
function herDirectory(app: string, name: string): string {
  const mine = join(app, name);
  fs.mkdirSync(mine);
  fs.writeFileSync(join(mine, 'payload'), 'hers\n');
  fs.chownSync(join(mine, 'payload'), ALICE, ALICE);
  fs.chownSync(mine, ALICE, ALICE);
  return mine;
}

/** rename(2) with RENAME_EXCHANGE, as her loop does it, in three renames of the real function (the test is the only actor). */
function exchange(rename: (...args: unknown[]) => unknown, a: string, b: string): void {
  const aside = `${a}.exchange`;
  rename(a, aside);
  rename(b, a);
  rename(aside, b);
}

describe('symlink undo in a directory its user can write', () => {
  it('re-pointing the old link chowns only the link it made: her hard link to a root-only file renamed over the new link\'s name right after the symlink call keeps its owner', async () => {
    const w = world();
    const path = join(w.app, 'current');
    fs.symlinkSync('releases/1', path);
    fs.lchownSync(path, ALICE, ALICE); // her link: undo gives the old one back to her
    const pending = join(w.app, '.pending');
    fs.linkSync(w.shadow, pending); // as she can where fs.protected_hardlinks is off
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { path, target: 'releases/2' };
    const before = await symlink.definition.prepare(args, ctx.ctx);
    await symlink.definition.do(args, before, ctx.ctx);
    // Her inotify watch: a new link of the step's appears in her directory; she renames her hard link over it.
    const raced: string[] = [];
    hook('symlinkSync', (real) => (target, where, ...rest) => {
      const result = real(target, where, ...rest);
      for (const name of fs.readdirSync(w.app)) {
        if (!name.startsWith('.current.unwind-') || !fs.existsSync(pending)) continue;
        try {
          fs.renameSync(pending, join(w.app, name));
          raced.push(name);
        } catch {
          // not a file she can rename over (the step's private directory): nothing to win there
        }
      }
      return result;
    });
    let undoError: unknown;
    await symlink.definition.undo(args, before, undefined, ctx.ctx).catch((error: unknown) => (undoError = error));
    const st = fs.statSync(w.shadow);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o600]);
    expect(undoError).toBeUndefined();
    expect(raced).toEqual([]);
    const link = fs.lstatSync(path);
    expect([link.isSymbolicLink(), fs.readlinkSync(path), link.uid, link.gid]).toEqual([true, 'releases/1', ALICE, ALICE]);
    expect(fs.readdirSync(w.app).sort()).toEqual(['.pending', 'current']); // no private directory left behind
  });

  it('an undo run again after a crash removes the private directory and the link an interrupted one left in it, and puts the old link back', async () => {
    const w = world();
    const path = join(w.app, 'current');
    fs.symlinkSync('releases/1', path);
    fs.lchownSync(path, ALICE, ALICE);
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { path, target: 'releases/2' };
    const before = await symlink.definition.prepare(args, ctx.ctx);
    await symlink.definition.do(args, before, ctx.ctx);
    const restore = replaceFsFunctionForTest('lchownSync', (real) => (...rest) => {
      real(...rest);
      throw new Error('power cut'); // right after the chown, before the rename
    });
    await expect(symlink.definition.undo(args, before, undefined, ctx.ctx)).rejects.toThrow('power cut');
    expect(fs.readdirSync(w.app).filter((name) => name.endsWith('-undo'))).toHaveLength(1);
    restore();
    await symlink.definition.undo(args, before, undefined, ctx.ctx);
    await symlink.definition.verifyUndo!(args, before, ctx.ctx);
    expect(fs.lstatSync(path).uid).toBe(ALICE);
    expect(fs.readdirSync(w.app)).toEqual(['current']);
  });
});

describe('move between a directory its user can write and one only root can write', () => {
  it('undo moves back only what it judged: her directory exchanged for the moved one right before the rename is put back, an UndoConflictError naming both, and nothing of hers reaches the root-only place', async () => {
    const w = world();
    const from = join(w.srv, 'release'), to = join(w.app, 'release');
    fs.mkdirSync(from);
    fs.writeFileSync(join(from, 'app.bin'), 'root\'s release\n');
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { from, to };
    const before = await move.definition.prepare(args, ctx.ctx);
    await move.definition.do(args, before, ctx.ctx);
    const mine = herDirectory(w.app, 'mine');
    const hers = fs.lstatSync(mine).ino;
    // Her RENAME_EXCHANGE loop wins once: right before root's first rename of `to`, after its checks by name.
    let swapped = false;
    hook('renameSync', (real) => (source, destination) => {
      if (!swapped && String(source).endsWith('/release')) {
        swapped = true;
        exchange(real, to, mine);
      }
      return real(source, destination);
    });
    const error = await move.definition.undo(args, before, undefined, ctx.ctx).catch((e: unknown) => e);
    expect(swapped).toBe(true);
    expect(error).toBeInstanceOf(UndoConflictError);
    expect((error as UndoConflictError).expected).toContain(`inode ${before.ino}`);
    expect((error as UndoConflictError).found).toContain(`inode ${hers}`);
    expect(fs.existsSync(from)).toBe(false);
    // Her directory is back at `to`, the moved one where her exchange put it; none of it in root's place.
    expect(fs.lstatSync(to).ino).toBe(hers);
    expect(fs.readFileSync(join(mine, 'app.bin'), 'utf8')).toBe('root\'s release\n');
    expect(fs.readdirSync(w.srv)).toEqual([]);
    expect(fs.readdirSync(w.app).sort()).toEqual(['mine', 'release']);
  });

  it('do moves on only what it judged: her directory exchanged for the source right before the rename stays hers where it was (TargetChangedError), and the root-only place gets nothing', async () => {
    const w = world();
    const from = join(w.app, 'upload'), to = join(w.srv, 'release');
    fs.mkdirSync(from); // root's, in her directory
    fs.writeFileSync(join(from, 'app.bin'), 'root\'s release\n');
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { from, to };
    const before = await move.definition.prepare(args, ctx.ctx);
    const mine = herDirectory(w.app, 'mine');
    const hers = fs.lstatSync(mine).ino;
    let swapped = false;
    hook('renameSync', (real) => (source, destination) => {
      if (!swapped && String(source).endsWith('/upload')) {
        swapped = true;
        exchange(real, from, mine);
      }
      return real(source, destination);
    });
    await expect(move.definition.do(args, before, ctx.ctx)).rejects.toBeInstanceOf(TargetChangedError);
    expect(swapped).toBe(true);
    expect(fs.existsSync(to)).toBe(false);
    expect(fs.lstatSync(from).ino).toBe(hers);
    expect(fs.readdirSync(w.app).sort()).toEqual(['mine', 'upload']);
  });

  it('an undo run again after a crash at any of its renames or syncs finishes: what it had moved into its private directory goes on to its place, and the directory goes', async () => {
    let parked = 0;
    for (let crashAt = 1; ; crashAt++) {
      const w = world();
      const from = join(w.srv, 'release'), to = join(w.app, 'release');
      fs.mkdirSync(from);
      fs.writeFileSync(join(from, 'app.bin'), 'root\'s release\n');
      const ctx = testContext();
      cleanups.push(ctx.dispose);
      const args = { from, to };
      const before = await move.definition.prepare(args, ctx.ctx);
      await move.definition.do(args, before, ctx.ctx);
      let calls = 0;
      const crash = (real: (...args: unknown[]) => unknown) => (...rest: unknown[]) => {
        const result = real(...rest);
        if (++calls === crashAt) throw new Error('power cut');
        return result;
      };
      const restoreRename = replaceFsFunctionForTest('renameSync', crash);
      const restoreSync = replaceFsFunctionForTest('fsyncSync', crash);
      const restoreRmdir = replaceFsFunctionForTest('rmdirSync', crash);
      const first = await move.definition.undo(args, before, undefined, ctx.ctx).then(() => undefined, (e: unknown) => e);
      restoreRmdir();
      restoreSync();
      restoreRename();
      if (fs.readdirSync(w.app).some((name) => name.endsWith('.unwind-move-back') && fs.existsSync(join(w.app, name, 'held')))) parked++;
      await move.definition.undo(args, before, undefined, ctx.ctx);
      await move.definition.verifyUndo!(args, before, ctx.ctx);
      expect(fs.lstatSync(from).ino.toString()).toBe(before.ino);
      expect(fs.readdirSync(w.app)).toEqual([]);
      expect(fs.readdirSync(w.srv)).toEqual([basename(from)]);
      if (first === undefined) break; // no call left to crash at
      expect((first as Error).message).toContain('power cut');
    }
    expect(parked).toBeGreaterThan(0);
  });
});

/** {@link hook} that can be put back before the test ends (for an undo run again without it). */
function replaceFsFunctionForTest(name: FsFunctionName, wrap: (real: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown): () => void {
  const restore = replaceFsFunction(name, wrap);
  cleanups.push(restore);
  return restore;
}
