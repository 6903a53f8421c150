import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UndoConflictError, type StepContext } from '@unwind/core';
import { failingStep, testContext } from '@unwind/core/testing';
import { HardLinkRefusedError, TargetChangedError, UnexpectedFileTypeError, UnsafePathError, chmod, chown, copy, writeFile } from '../src/index.js';
import { tempDir } from './helpers.js';
import { ALICE, cleanups, hook, run, watchDeviceOpens } from './hostile.js';

// chmod, chown and copy where a user owns a directory on the way, and devices looked at, never opened.

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

  it('a copy whose source has another hard link, in a directory she can write, is refused at prepare: nothing of the linked file is published; from a directory only root can write it is copied', async () => {
    const w = linked();
    const target = join(w.app, '..', '..', '..', 'published.conf');
    const outcome = await run(copy({ source: w.config, path: target, mode: 0o644 }));
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.cause.name).toBe('HardLinkRefusedError');
    expect(outcome.status === 'rolled-back' && outcome.cause.message).toContain('refusing to read it as a source');
    expect(fs.existsSync(target)).toBe(false);
    for (const dir of [join(w.app, '..'), w.app]) fs.chownSync(dir, 0, 0);
    const copied = await run(copy({ source: w.config, path: target, mode: 0o600 }));
    expect(copied.status, JSON.stringify(copied.status === 'rolled-back' && copied.cause)).toBe('committed');
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

  it('chmod and chown refuse a device at prepare without opening it', async () => {
    const path = device();
    const opened = watchDeviceOpens();
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    await expect(chmod.definition.prepare({ path, mode: 0o600 }, ctx.ctx)).rejects.toThrow(/is a device node; its mode and owner are not changed/);
    await expect(chown.definition.prepare({ path, uid: 4242 }, ctx.ctx)).rejects.toBeInstanceOf(UnexpectedFileTypeError);
    expect(opened).toEqual([]);
  });

  it('a device swapped in after prepare is refused at do and at undo without being opened', async () => {
    const d = tempDir('unwind-files-hostile-');
    cleanups.push(d.remove);
    const path = join(d.path, 'app.conf');
    fs.writeFileSync(path, 'x\n', { mode: 0o644 });
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const before = await chmod.definition.prepare({ path, mode: 0o600 }, ctx.ctx);
    fs.rmSync(path);
    expect(spawnSync('mknod', ['-m', '0644', path, 'c', '1', '3']).status).toBe(0);
    const opened = watchDeviceOpens();
    await expect(chmod.definition.do({ path, mode: 0o600 }, before, ctx.ctx)).rejects.toThrow();
    await expect(chmod.definition.undo({ path, mode: 0o600 }, before, undefined, ctx.ctx)).rejects.toThrow();
    expect(opened).toEqual([]);
    expect(fs.lstatSync(path).mode & 0o7777).toBe(0o644);
  });
});

describe('writeFile and copy over a file in a directory its user controls', () => {
  /** Her config (0644, hers) in her app directory, and a hard link to a root-only file she made there beforehand. */
  function planted(): { shadow: string; config: string; link: string; app: string } {
    const d = tempDir('unwind-files-hostile-');
    cleanups.push(d.remove);
    const shadow = join(d.path, 'sys', 'shadow'), app = join(d.path, 'home', 'alice', 'app');
    fs.mkdirSync(join(d.path, 'sys'));
    fs.writeFileSync(shadow, 'root:$6$secret:...\n', { mode: 0o600 });
    fs.mkdirSync(app, { recursive: true });
    fs.chownSync(join(d.path, 'home', 'alice'), ALICE, ALICE);
    fs.chownSync(app, ALICE, ALICE);
    const config = join(app, 'config'), link = join(app, '.pending');
    fs.writeFileSync(config, 'hers\n', { mode: 0o644 });
    fs.chownSync(config, ALICE, ALICE);
    fs.linkSync(shadow, link);
    return { shadow, config, link, app };
  }

  /** Right after prepare's first look at her config (whatever call makes it), she renames the link over it. */
  function swapAfterFirstLook(w: { config: string; link: string }): void {
    let swapped = false;
    const after = (real: (...args: unknown[]) => unknown) => (path: unknown, ...rest: unknown[]) => {
      const result = real(path, ...rest);
      if (!swapped && String(path).endsWith('/config')) {
        swapped = true;
        fs.renameSync(w.link, w.config);
      }
      return result;
    };
    hook('lstatSync', after);
    hook('openSync', after);
  }

  it('prepare journals bytes, mode and owner of one file: a hard link to a root-only file renamed over hers between two looks cannot pair its bytes with her mode and owner', async () => {
    const prepares = [
      (path: string, _source: string, ctx: StepContext) => writeFile.definition.prepare({ path, content: 'new\n' }, ctx),
      (path: string, source: string, ctx: StepContext) => copy.definition.prepare({ source, path }, ctx),
    ];
    for (const prepare of prepares) {
      const w = planted();
      const source = join(w.app, '..', '..', 'source');
      fs.writeFileSync(source, 'new\n');
      const ctx = testContext();
      cleanups.push(ctx.dispose);
      swapAfterFirstLook(w);
      const before = await prepare(w.config, source, ctx.ctx);
      expect(before.existed).toBe(true);
      if (!before.existed) continue;
      const journaled = (await ctx.ctx.blobs.read(before.blob)).toString();
      // Whatever was read, the mode and owner are that same file's: hers with her bytes (the shadow's would be refused as a hard link).
      expect([journaled, before.mode, before.uid]).toEqual(['hers\n', 0o644, ALICE]);
    }
  });

  it('a target with another hard link, in a directory she can write, is refused at prepare (HardLinkRefusedError): a rollback never writes the linked file\'s bytes as hers', async () => {
    for (const step of [(path: string) => writeFile({ path, content: 'new\n' }), (path: string, source: string) => copy({ source, path })]) {
      const w = planted();
      const source = join(w.app, '..', '..', 'source');
      fs.writeFileSync(source, 'new\n');
      fs.renameSync(w.link, w.config); // her config is now another name of the root-only file
      const outcome = await run(step(w.config, source), failingStep({ message: 'fail' }));
      expect(outcome.status).toBe('rolled-back');
      expect(outcome.status === 'rolled-back' && outcome.cause.name).toBe('HardLinkRefusedError');
      expect(outcome.status === 'rolled-back' && outcome.cause.message).toContain('refusing to keep its bytes');
      expect(fs.readFileSync(w.config, 'utf8')).toBe('root:$6$secret:...\n');
      const st = fs.statSync(w.config);
      expect([st.uid, st.mode & 0o7777, st.nlink]).toEqual([0, 0o600, 2]);
    }
  });

  it("undo decides on one file: her own file renamed in right after undo's first look, with the bytes this step wrote but her mode, is a conflict and is left alone", async () => {
    const w = planted();
    const ctx = testContext();
    cleanups.push(ctx.dispose);
    const args = { path: w.config, content: 'new\n' };
    const before = await writeFile.definition.prepare(args, ctx.ctx);
    const after = await writeFile.definition.do(args, before, ctx.ctx);
    // Hers, with the bytes the step wrote and another mode: her edit, which a rollback must not overwrite.
    const mine = join(w.app, '.mine');
    fs.writeFileSync(mine, 'new\n', { mode: 0o600 });
    fs.chownSync(mine, ALICE, ALICE);
    let swapped = false;
    hook('lstatSync', (real) => (path: unknown, ...rest: unknown[]) => {
      const result = real(path, ...rest);
      if (!swapped && String(path).endsWith('/config')) {
        swapped = true;
        fs.renameSync(mine, w.config);
      }
      return result;
    });
    await expect(writeFile.definition.undo(args, before, after, ctx.ctx)).rejects.toBeInstanceOf(UndoConflictError);
    expect(swapped).toBe(true);
    const st = fs.statSync(w.config);
    expect([fs.readFileSync(w.config, 'utf8'), st.uid, st.mode & 0o7777]).toEqual(['new\n', ALICE, 0o600]);
  });

  it('a hard-linked target in a directory only root can write is still replaced, and put back on rollback', async () => {
    const w = planted();
    fs.renameSync(w.link, w.config);
    for (const dir of [join(w.app, '..'), w.app]) fs.chownSync(dir, 0, 0);
    const outcome = await run(writeFile({ path: w.config, content: 'new\n' }), failingStep({ message: 'fail' }));
    expect(outcome.status, JSON.stringify(outcome.status === 'rolled-back' && outcome.cause)).toBe('rolled-back');
    expect(outcome.status === 'rolled-back' && outcome.cause.message).toBe('fail');
    const st = fs.statSync(w.config);
    expect([fs.readFileSync(w.config, 'utf8'), st.uid, st.mode & 0o7777]).toEqual(['root:$6$secret:...\n', 0, 0o600]);
  });
});
