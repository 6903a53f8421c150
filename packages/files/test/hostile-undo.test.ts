import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UndoConflictError, UntrustedJournalError } from '@unwind/core';
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
      if (fs.existsSync(join(w.app, basename(before.backHolder!), 'held'))) parked++;
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

describe('move in a sticky world-writable directory (/tmp) where another user plants directories at the names of its private directories', () => {
  /** A sticky 1777 directory like /tmp, with root's `release` in it. */
  function stickyTmp(): { tmp: string; from: string; to: string } {
    const d = tempDir('unwind-files-hostile-sticky-');
    cleanups.push(d.remove);
    fs.chmodSync(d.path, 0o755); // she can reach it
    const tmp = join(d.path, 'tmp');
    fs.mkdirSync(tmp);
    fs.chmodSync(tmp, 0o1777);
    const from = join(tmp, 'release'), to = join(tmp, 'release.new');
    fs.mkdirSync(from, { mode: 0o700 });
    fs.writeFileSync(join(from, 'app.bin'), 'root\'s release\n');
    return { tmp, from, to };
  }

  /** She makes `name` in `dir`, a directory of hers (0700), as a process running as her. */
  function plant(dir: string, name: string): void {
    const r = spawnSync(process.execPath, ['-e', 'require("node:fs").mkdirSync(process.argv[1], { mode: 0o700 })', join(dir, name)], { uid: ALICE, gid: ALICE, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.lstatSync(join(dir, name)).uid).toBe(ALICE);
  }

  it('her directories at the names the version before derived from the arguments deny neither do nor undo: the private directories get names she cannot guess', async () => {
    const w = stickyTmp();
    // Planted before the step is even prepared: the names the version before used, predictable from the arguments.
    plant(w.tmp, '.release.unwind-move');
    plant(w.tmp, '.release.new.unwind-move-back');
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { from: w.from, to: w.to };
    const before = await move.definition.prepare(args, ctx.ctx);
    move.definition.validateJournaled!(args, before, undefined, { transactionId: 'tx', stepIndex: 0 } as never); // recovery would accept what prepare journaled
    await move.definition.do(args, before, ctx.ctx);
    await move.definition.verify!(args, before, undefined, ctx.ctx);
    await move.definition.undo(args, before, undefined, ctx.ctx);
    await move.definition.verifyUndo!(args, before, ctx.ctx);
    expect(fs.readFileSync(join(w.from, 'app.bin'), 'utf8')).toBe('root\'s release\n');
    // Hers untouched, nothing of root's left behind.
    expect(fs.readdirSync(w.tmp).sort()).toEqual(['.release.new.unwind-move-back', '.release.unwind-move', 'release']);
    expect(fs.readdirSync(join(w.tmp, '.release.unwind-move'))).toEqual([]);
    expect(fs.lstatSync(join(w.tmp, '.release.new.unwind-move-back')).uid).toBe(ALICE);
  });

  it('a journal without the private directories\' names (written by the version before) is still undone by the names derived from the arguments', async () => {
    const w = stickyTmp();
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { from: w.from, to: w.to };
    const prepared = await move.definition.prepare(args, ctx.ctx);
    const { type, dev, ino, fromParent, toParent } = prepared;
    const before = { type, dev, ino, fromParent, toParent };
    expect(move.definition.before.is(before)).toBe(true);
    await move.definition.do(args, before, ctx.ctx);
    // An undo of the version before parked it in its holder beside `to` and was cut off there.
    const holder = join(w.tmp, '.release.new.unwind-move-back');
    fs.mkdirSync(holder, { mode: 0o700 });
    fs.renameSync(w.to, join(holder, 'held'));
    await move.definition.undo(args, before, undefined, ctx.ctx);
    await move.definition.verifyUndo!(args, before, ctx.ctx);
    expect(fs.lstatSync(w.from).ino.toString()).toBe(before.ino);
    expect(fs.readdirSync(w.tmp)).toEqual(['release']);
  });

  it('recovery accepts only journaled names of its own private directories: beside from or to, its prefix, 128 random bits in hex', async () => {
    const w = stickyTmp();
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { from: w.from, to: w.to };
    const before = await move.definition.prepare(args, ctx.ctx);
    const where = { transactionId: 'tx', stepIndex: 0 } as never;
    const check = (b: typeof before) => () => move.definition.validateJournaled!(args, b, undefined, where);
    expect(check(before)).not.toThrow();
    const hex = 'a'.repeat(32);
    for (const forwardHolder of [
      `/etc/.release.unwind-move-${hex}`,
      join(w.tmp, `.release.unwind-move-${hex}/x`),
      join(w.tmp, `.release.unwind-move-${hex}`, '..', '..', 'etc'),
      join(w.tmp, `.release.unwind-move-${'g'.repeat(32)}`),
      join(w.tmp, `.release.unwind-move-${hex}0`),
      join(w.tmp, '.release.unwind-move'),
      join(w.tmp, `.release.new.unwind-move-back-${hex}`),
      `${join(w.tmp, `.release.unwind-move-${hex}`)}/`,
      'release',
    ]) {
      expect(check({ ...before, forwardHolder }), forwardHolder).toThrow(UntrustedJournalError);
    }
    for (const backHolder of [`/etc/.release.new.unwind-move-back-${hex}`, join(w.tmp, `.release.unwind-move-${hex}`), join(w.tmp, '.release.new.unwind-move-back')]) {
      expect(check({ ...before, backHolder }), backHolder).toThrow(UntrustedJournalError);
    }
    expect(check({ ...before, forwardHolder: join(w.tmp, `.release.unwind-move-${hex}`), backHolder: join(w.tmp, `.release.new.unwind-move-back-${hex}`) })).not.toThrow();
  });
});
