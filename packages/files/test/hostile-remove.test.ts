import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failingStep, treeState } from '@unwind/core/testing';
import { remove } from '../src/index.js';
import { canMount, mountTmpfs, tempDir } from './helpers.js';
import { ALICE, cleanups, hook, run, watchDeviceOpens } from './hostile.js';

// files.remove with allowCopy where a user owns the tree: her moves at exact points (hook), or, for a
// deletion, by a real uid-65534 process racing it.
const noMount = canMount();
if (noMount) console.warn(`hostile remove tests skipped: ${noMount}`);

/** alice's home with `data` to remove, a root-only `etc` beside it, and staging on another filesystem (a tmpfs). */
/**
 * Right after the copy looked at her file `notes` (an lstat outside the
 * staging directory), before it reads it, she removes it and `replace` puts
 * something else at its path. Says whether that happened.
 */
function swapNotesWhileCopied(w: { data: string; stage: string }, replace: (notes: string) => void): { done: boolean } {
  const swap = { done: false };
  hook('lstatSync', (real) => (path, ...rest) => {
    const result = real(path, ...rest);
    if (!swap.done && String(path).endsWith('/notes') && !String(path).includes(w.stage)) {
      swap.done = true;
      fs.rmSync(join(w.data, 'notes'));
      replace(join(w.data, 'notes'));
    }
    return result;
  });
  return swap;
}

function world(): { home: string; data: string; etc: string; stage: string } {
  const d = tempDir('unwind-files-hostile-');
  cleanups.push(d.remove);
  const home = join(d.path, 'home'), data = join(home, 'data'), etc = join(d.path, 'etc'), stage = join(d.path, 'stage');
  fs.mkdirSync(join(data, 'sub'), { recursive: true });
  fs.writeFileSync(join(data, 'notes'), 'x\n', { mode: 0o644 });
  fs.writeFileSync(join(data, 'sub', 'ld.so.preload'), '/home/alice/evil.so\n', { mode: 0o644 });
  fs.writeFileSync(join(data, 'tool'), '#!/bin/sh\nexec /bin/sh -p\n', { mode: 0o755 });
  for (const p of [home, data, join(data, 'sub'), join(data, 'notes'), join(data, 'sub', 'ld.so.preload'), join(data, 'tool')]) fs.chownSync(p, ALICE, ALICE);
  fs.chmodSync(join(data, 'tool'), 0o4755); // her own set-uid program: a copy must never be root's with this mode
  fs.chmodSync(join(data, 'sub'), 0o777);
  fs.mkdirSync(etc, { mode: 0o755 });
  fs.writeFileSync(join(etc, 'secret'), 'root-only secret\n', { mode: 0o600 });
  fs.mkdirSync(stage);
  cleanups.push(mountTmpfs(stage, '16m'));
  return { home, data, etc, stage };
}

describe.skipIf(noMount)('files.remove with allowCopy, in a directory its user controls', () => {
  it('undo copies back inside a private directory: the restore temp swapped for a symlink to /etc gets nothing, /etc keeps its mode', async () => {
    const w = world();
    const etcBefore = treeState(w.etc);
    hook('mkdirSync', (real) => (path, ...rest) => {
      const result = real(path, ...rest);
      // The moment the restore temp appears in her directory (she can watch for it with inotify).
      if (String(path).endsWith('/.data.unwind-restore')) {
        fs.renameSync(join(w.home, '.data.unwind-restore'), join(w.home, '.grabbed'));
        fs.symlinkSync(w.etc, join(w.home, '.data.unwind-restore'));
      }
      return result;
    });
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }), failingStep({ message: 'later failure' }));
    expect(treeState(w.etc)).toEqual(etcBefore);
    // Her swap came before root opened the directory it made: refused, and her tree stays staged (nothing lost).
    expect(outcome.status).toBe('rollback-failed');
    expect(outcome.status === 'rollback-failed' && outcome.undoError.message).toContain('is not the directory just made for the copy');
    expect(fs.readFileSync(join(w.stage, fs.readdirSync(w.stage).find((n) => n.includes('unwind-staging'))!, '0', 'sub', 'ld.so.preload'), 'utf8')).toBe('/home/alice/evil.so\n');
  });

  it('undo copies back inside a private directory: the restore temp swapped once the copy is under way changes nothing of hers or /etc', async () => {
    const w = world();
    const etcBefore = treeState(w.etc);
    let swapped = false;
    hook('mkdirSync', (real) => (path, ...rest) => {
      const result = real(path, ...rest);
      // The first directory made below the restore temp: the copy is under way.
      if (!swapped && String(path).endsWith('/sub') && fs.existsSync(join(w.home, '.data.unwind-restore'))) {
        swapped = true;
        fs.renameSync(join(w.home, '.data.unwind-restore'), join(w.home, '.grabbed'));
        fs.symlinkSync(w.etc, join(w.home, '.data.unwind-restore'));
      }
      return result;
    });
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }), failingStep({ message: 'later failure' }));
    expect(swapped).toBe(true);
    expect(treeState(w.etc)).toEqual(etcBefore);
    expect(outcome.status).toBe('rolled-back');
    expect(fs.readFileSync(join(w.data, 'sub', 'ld.so.preload'), 'utf8')).toBe('/home/alice/evil.so\n');
    expect(fs.existsSync(join(w.home, '.data.unwind-restore'))).toBe(false);
  });

  it('no file of the copy is ever root-owned with a set-id bit: files are made 0600, owner first, mode after', async () => {
    const w = world();
    const seen: string[] = [];
    const look = (path: unknown) => {
      const st = fs.lstatSync(String(path), { throwIfNoEntry: false });
      if (st?.isFile() && st.uid === 0 && (st.mode & 0o6000) !== 0) seen.push(`${String(path)} root-owned mode ${(st.mode & 0o7777).toString(8)}`);
    };
    hook('copyFileSync', (real) => (from, to, ...rest) => {
      const result = real(from, to, ...rest);
      look(to);
      return result;
    });
    hook('openSync', (real) => (path, flags, ...rest) => {
      const fd = real(path, flags, ...rest);
      if (typeof flags === 'number' && (flags & fs.constants.O_CREAT) !== 0) look(path);
      return fd;
    });
    hook('fchownSync', (real) => (fd, ...rest) => {
      const result = real(fd, ...rest);
      look(`/proc/self/fd/${String(fd)}`);
      return result;
    });
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }), failingStep({ message: 'later failure' }));
    expect(seen).toEqual([]);
    expect(outcome.status).toBe('rolled-back');
    const tool = fs.lstatSync(join(w.data, 'tool'));
    expect([tool.uid, tool.mode & 0o7777]).toEqual([ALICE, 0o4755]);
  });

  it('a file swapped for a symlink to a root-only file while being copied is refused, never read', async () => {
    const w = world();
    const swap = swapNotesWhileCopied(w, (notes) => {
      fs.symlinkSync(join(w.etc, 'secret'), notes);
    });
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }), failingStep({ message: 'later failure' }));
    expect(swap.done).toBe(true);
    const notes = fs.lstatSync(join(w.data, 'notes'));
    expect(notes.isFile() ? fs.readFileSync(join(w.data, 'notes'), 'utf8') : 'not a copy').not.toContain('root-only secret');
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.steps[0]!.error?.name).toBe('TargetChangedError');
    expect(fs.readdirSync(w.stage)).toEqual([]);
  });

  it('a file swapped for a FIFO while being copied is refused at once (the step does not hang)', async () => {
    const w = world();
    const swap = swapNotesWhileCopied(w, (notes) => {
      expect(spawnSync('mkfifo', [notes]).status).toBe(0);
    });
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }));
    expect(swap.done).toBe(true);
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.cause.name).toBe('UnexpectedFileTypeError');
    expect(fs.lstatSync(join(w.data, 'notes')).isFIFO()).toBe(true);
  });

  it('a file swapped for a device while being copied is refused without opening the device', async () => {
    const w = world();
    const swap = swapNotesWhileCopied(w, (notes) => {
      expect(spawnSync('mknod', [notes, 'c', '1', '3']).status).toBe(0); // /dev/null's numbers
    });
    const opened = watchDeviceOpens();
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }));
    expect(swap.done).toBe(true);
    expect(opened).toEqual([]);
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.cause.name).toBe('UnexpectedFileTypeError');
  });

  it('deleting the original, a directory she swaps for a symlink after its first file went is emptied through its descriptor, its link never followed', async () => {
    const w = world();
    fs.writeFileSync(join(w.data, 'sub', 'more'), 'y\n');
    fs.writeFileSync(join(w.etc, 'more'), 'root data\n', { mode: 0o600 });
    const etcBefore = treeState(w.etc);
    let swapped = false;
    hook('unlinkSync', (real) => (path, ...rest) => {
      const result = real(path, ...rest);
      // The first file of hers deleted (not in staging): she swaps the directory it was in.
      if (!swapped && /\/(ld\.so\.preload|more)$/.test(String(path)) && !fs.realpathSync(String(path).replace(/\/[^/]+$/, '')).startsWith(w.stage)) {
        swapped = true;
        fs.renameSync(join(w.data, 'sub'), join(w.data, 'sub2'));
        fs.symlinkSync(w.etc, join(w.data, 'sub'));
      }
      return result;
    });
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }));
    expect(swapped).toBe(true);
    expect(treeState(w.etc)).toEqual(etcBefore);
    // Like rm -rf, the delete goes on: the link is removed as a link and the directory she moved
    // within the tree goes with the rest of it; nothing outside is reached.
    expect(outcome.status).toBe('committed');
    expect(fs.existsSync(w.data)).toBe(false);
    expect(fs.existsSync(w.etc)).toBe(true);
  });

  it('deleting the original never follows a directory she swaps for a symlink mid-way (a real uid-65534 process races it)', async () => {
    const w = world();
    // She needs to reach her home: the temp directory above it is 0700.
    fs.chmodSync(join(w.home, '..'), 0o755);
    for (const p of [w.home, w.data]) fs.chownSync(p, 65534, 65534);
    const many = 20_000;
    for (let i = 0; i < many; i++) fs.writeFileSync(join(w.data, `f${i}`), '');
    fs.writeFileSync(join(w.etc, 'precious'), 'root data\n', { mode: 0o600 });
    fs.writeFileSync(join(w.data, 'precious'), '');
    const etcBefore = treeState(w.etc);
    // Watches her directory empty out; once root is deleting in it, swaps it for a symlink to etc.
    const attacker = `const fs = require('fs'); const [data, etc, total] = process.argv.slice(1); const t0 = Date.now();
      for (;;) { let n; try { n = fs.readdirSync(data).length; } catch { n = -1; }
        if (n >= 0 && n < Number(total) - 20) { fs.renameSync(data, data + '2'); fs.symlinkSync(etc, data); console.log('swapped'); break; }
        if (Date.now() - t0 > 30000) break; }`;
    const child = spawn(process.execPath, ['-e', attacker, w.data, w.etc, String(many + 4)], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => child.kill());
    let out = '';
    child.stdout.on('data', (chunk) => (out += String(chunk)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }));
    await new Promise((resolve) => child.exitCode !== null ? resolve(null) : child.on('exit', resolve));
    expect(out).toContain('swapped');
    expect(treeState(w.etc)).toEqual(etcBefore);
  }, 60_000);
});
