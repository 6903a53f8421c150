import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import moduleFs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UndoConflictError, memoryJournal, transaction, type AnyStepKind, type Outcome } from '@unwind/core';
import { failingStep, testContext, treeState } from '@unwind/core/testing';
import { HardLinkRefusedError, TargetChangedError, UnsafePathError, chmod, chown, copy, remove } from '../src/index.js';
import { canMount, mountTmpfs, tempDir } from './helpers.js';

// A user who owns a directory that a root step works in moves things in it at the worst moment.
// Her moves are made at exact points by wrapping fs calls (or, for a deletion inside Node's own
// rmSync, by a real uid-65534 process racing it); the checks say what root must never have done.
const ALICE = 4242;
const noMount = canMount();
if (noMount) console.warn(`hostile-user tests skipped: ${noMount}`);

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      cleanup();
    } catch (error) {
      console.warn('cleanup failed:', error);
    }
  }
});

const nodeFs = moduleFs as unknown as Record<string, (...args: unknown[]) => unknown>;
/** Replaces fs[name] with `wrap(real)` until the test ends. */
function hook(name: string, wrap: (real: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown): void {
  const real = nodeFs[name]!;
  nodeFs[name] = wrap(real);
  syncBuiltinESMExports();
  cleanups.push(() => {
    nodeFs[name] = real;
    syncBuiltinESMExports();
  });
}

/** alice's home with `data` to remove, a root-only `etc` beside it, and staging on another filesystem (a tmpfs). */
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

async function run(...steps: Array<ReturnType<AnyStepKind>>): Promise<Outcome> {
  const tx = transaction('hostile', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
  for (const step of steps) tx.add(step);
  return tx.run();
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
    let swapped = false;
    hook('lstatSync', (real) => (path, ...rest) => {
      const result = real(path, ...rest);
      // Right after the copy looked at her file, before it reads it.
      if (!swapped && String(path).endsWith('/notes') && !String(path).includes(w.stage)) {
        swapped = true;
        fs.rmSync(join(w.data, 'notes'));
        fs.symlinkSync(join(w.etc, 'secret'), join(w.data, 'notes'));
      }
      return result;
    });
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }), failingStep({ message: 'later failure' }));
    expect(swapped).toBe(true);
    const notes = fs.lstatSync(join(w.data, 'notes'));
    expect(notes.isFile() ? fs.readFileSync(join(w.data, 'notes'), 'utf8') : 'not a copy').not.toContain('root-only secret');
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.steps[0]!.error?.name).toBe('TargetChangedError');
    expect(fs.readdirSync(w.stage)).toEqual([]);
  });

  it('a file swapped for a FIFO while being copied is refused at once (the step does not hang)', async () => {
    const w = world();
    let swapped = false;
    hook('lstatSync', (real) => (path, ...rest) => {
      const result = real(path, ...rest);
      if (!swapped && String(path).endsWith('/notes') && !String(path).includes(w.stage)) {
        swapped = true;
        fs.rmSync(join(w.data, 'notes'));
        expect(spawnSync('mkfifo', [join(w.data, 'notes')]).status).toBe(0);
      }
      return result;
    });
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }));
    expect(swapped).toBe(true);
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.cause.name).toBe('UnexpectedFileTypeError');
    expect(fs.lstatSync(join(w.data, 'notes')).isFIFO()).toBe(true);
  });

  it('a file swapped for a device while being copied is refused without opening the device', async () => {
    const w = world();
    let swapped = false;
    hook('lstatSync', (real) => (path, ...rest) => {
      const result = real(path, ...rest);
      if (!swapped && String(path).endsWith('/notes') && !String(path).includes(w.stage)) {
        swapped = true;
        fs.rmSync(join(w.data, 'notes'));
        expect(spawnSync('mknod', [join(w.data, 'notes'), 'c', '1', '3']).status).toBe(0); // /dev/null's numbers
      }
      return result;
    });
    const opened: string[] = [];
    hook('openSync', (real) => (path, flags, ...rest) => {
      const fd = real(path, flags, ...rest) as number;
      const onlyNamed = typeof flags === 'number' && (flags & 0o10000000) !== 0;
      if (!onlyNamed && fs.fstatSync(fd).isCharacterDevice()) opened.push(String(path));
      return fd;
    });
    const outcome = await run(remove({ paths: [w.data], stagingDir: w.stage, allowCopy: true }));
    expect(swapped).toBe(true);
    expect(opened).toEqual([]);
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.cause.name).toBe('UnexpectedFileTypeError');
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

describe('chmod and chown of a path in a directory its user controls', () => {
  /** A root-only file, hard-linked (as she could where fs.protected_hardlinks is off) as her app's config. */
  function linked(): { shadow: string; config: string; app: string } {
    const d = tempDir('unwind-files-hostile-');
    cleanups.push(d.remove);
    const shadow = join(d.path, 'sys', 'shadow'), app = join(d.path, 'home', 'alice', 'app'), config = join(app, 'config');
    fs.mkdirSync(join(d.path, 'sys'));
    fs.writeFileSync(shadow, 'root:$6$secret:...\n', { mode: 0o600 });
    fs.mkdirSync(app, { recursive: true });
    fs.chownSync(join(d.path, 'home', 'alice'), ALICE, ALICE);
    fs.chownSync(app, ALICE, ALICE);
    fs.linkSync(shadow, config);
    return { shadow, config, app };
  }

  it('a file with another hard link, in a directory she can write, is refused at prepare (HardLinkRefusedError): the linked file keeps its owner and mode', async () => {
    for (const step of [(path: string) => chown({ path, uid: ALICE, gid: ALICE }), (path: string) => chmod({ path, mode: 0o644 })]) {
      const w = linked();
      const outcome = await run(step(w.config));
      expect(outcome.status).toBe('rolled-back');
      expect(outcome.status === 'rolled-back' && outcome.cause.name).toBe('HardLinkRefusedError');
      expect(outcome.status === 'rolled-back' && (outcome.cause as { code?: string }).code).toBe('UNSAFE_PATH');
      const st = fs.statSync(w.shadow);
      expect([st.uid, st.mode & 0o7777, st.nlink]).toEqual([0, 0o600, 2]);
    }
  });

  it('HardLinkRefusedError is an UnsafePathError', () => {
    expect(new HardLinkRefusedError('/x', 2)).toBeInstanceOf(UnsafePathError);
  });

  it('a hard-linked file in a directory only root can write is still changed', async () => {
    const w = linked();
    for (const dir of [join(w.app, '..'), w.app]) fs.chownSync(dir, 0, 0);
    const outcome = await run(chmod({ path: w.config, mode: 0o640 }));
    expect(outcome.status).toBe('committed');
    expect(fs.statSync(w.shadow).mode & 0o7777).toBe(0o640);
  });

  it('prepare takes mode and identity from one descriptor: a file gone between two lookups cannot leave do unchecked', async () => {
    const d = tempDir('unwind-files-hostile-');
    cleanups.push(d.remove);
    const config = join(d.path, 'config'), other = join(d.path, 'other');
    fs.writeFileSync(config, 'hers\n', { mode: 0o600 });
    fs.writeFileSync(other, 'someone else\'s\n', { mode: 0o600 });
    let lookups = 0;
    hook('lstatSync', (real) => (path, ...rest) => {
      const result = real(path, ...rest);
      // Gone right after a first lookup of it: a second one finds nothing.
      if (String(path).endsWith('/config') && ++lookups === 1) fs.renameSync(config, `${config}.away`);
      return result;
    });
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { path: config, mode: 0o644 };
    const before = await chmod.definition.prepare(args, ctx.ctx);
    if (fs.existsSync(config)) fs.renameSync(config, `${config}.away`);
    fs.renameSync(other, config); // another file in its place by do
    await expect(chmod.definition.do(args, before, ctx.ctx)).rejects.toBeInstanceOf(TargetChangedError);
    expect(fs.statSync(config).mode & 0o7777).toBe(0o600);
  });
});

describe('copy from a source in a directory its user controls', () => {
  function upload(): { base: string; secret: string; home: string } {
    const d = tempDir('unwind-files-hostile-');
    cleanups.push(d.remove);
    const secret = join(d.path, 'secret'), home = join(d.path, 'home', 'alice');
    fs.mkdirSync(secret, { mode: 0o700 });
    fs.writeFileSync(join(secret, 'tls.key'), 'PRIVATE KEY\n', { mode: 0o600 });
    fs.mkdirSync(home, { recursive: true });
    fs.chownSync(home, ALICE, ALICE);
    fs.mkdirSync(join(d.path, 'srv'));
    return { base: d.path, secret, home };
  }

  it('a symlinked directory of hers on the way to the source is refused (UnsafePathError), not followed to a root-only file', async () => {
    const w = upload();
    fs.symlinkSync(w.secret, join(w.home, 'upload'));
    fs.lchownSync(join(w.home, 'upload'), ALICE, ALICE);
    const outcome = await run(copy({ source: join(w.home, 'upload', 'tls.key'), path: join(w.base, 'srv', 'tls.key'), mode: 0o644 }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.cause.name).toBe('UnsafePathError');
    expect(fs.existsSync(join(w.base, 'srv', 'tls.key'))).toBe(false);
  });

  it('an undo after a do that did not finish compares the target with the source prepare read, not with what she writes to it later', async () => {
    const w = upload();
    const source = join(w.home, 'cert.pem'), target = join(w.base, 'srv', 'cert.pem');
    fs.writeFileSync(source, 'her certificate\n');
    fs.chownSync(source, ALICE, ALICE);
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { source, path: target };
    const before = await copy.definition.prepare(args, ctx.ctx);
    // do never ran (a crash); meanwhile an admin put a file of their own there, and she copies it into her source.
    fs.writeFileSync(target, 'the admin\'s certificate\n', { mode: 0o644 });
    fs.writeFileSync(source, 'the admin\'s certificate\n');
    await expect(copy.definition.undo(args, before, undefined, ctx.ctx)).rejects.toBeInstanceOf(UndoConflictError);
    expect(fs.readFileSync(target, 'utf8')).toBe('the admin\'s certificate\n');
  });

  it('do copies only the bytes prepare read: a source changed in between is refused (TargetChangedError)', async () => {
    const w = upload();
    const source = join(w.home, 'cert.pem'), target = join(w.base, 'srv', 'cert.pem');
    fs.writeFileSync(source, 'checked\n');
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { source, path: target };
    const before = await copy.definition.prepare(args, ctx.ctx);
    fs.writeFileSync(source, 'swapped after the checks\n');
    await expect(copy.definition.do(args, before, ctx.ctx)).rejects.toBeInstanceOf(TargetChangedError);
    expect(fs.existsSync(target)).toBe(false);
  });
});

describe('looking at a device opens nothing', () => {
  /** Records every descriptor opened (not just named with O_PATH) on a character device. */
  function watchDeviceOpens(): string[] {
    const opened: string[] = [];
    hook('openSync', (real) => (path, flags, ...rest) => {
      const fd = real(path, flags, ...rest) as number;
      const onlyNamed = typeof flags === 'number' && (flags & 0o10000000) !== 0;
      if (!onlyNamed && fs.fstatSync(fd).isCharacterDevice()) opened.push(String(path));
      return fd;
    });
    return opened;
  }
  function device(): string {
    const d = tempDir('unwind-files-hostile-');
    cleanups.push(d.remove);
    const path = join(d.path, 'dev');
    expect(spawnSync('mknod', [path, 'c', '1', '3']).status).toBe(0);
    return path;
  }

  it('copy with a device as its source refuses it without opening it', async () => {
    const source = device();
    const opened = watchDeviceOpens();
    const outcome = await run(copy({ source, path: join(source, '..', 'copy') }));
    expect(outcome.status === 'refused' || outcome.status === 'rolled-back').toBe(true);
    expect(opened).toEqual([]);
  });

  it('chmod prepare records a device without opening it', async () => {
    const path = device();
    const opened = watchDeviceOpens();
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const before = await chmod.definition.prepare({ path, mode: 0o600 }, ctx.ctx);
    expect(before.entry).toBeDefined();
    expect(opened).toEqual([]);
  });
});
