import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DurableWriteError, removeTemporaryFiles, symlinkAtomically, syncFile, temporaryNameFor, writeFileAtomically, writeFully, writeNewFileDurably, writeTemporaryFile } from '@unwind/core';
import { tempDir } from './helpers.js';

// The one durable-write module, on the real disk.

let sandbox: { path: string; remove: () => void };
beforeEach(() => {
  sandbox = tempDir('unwind-durable-');
});
afterEach(() => sandbox.remove());

const entries = (): string[] => fs.readdirSync(sandbox.path).sort();

describe('writeFileAtomically', () => {
  it('replaces the file with the given bytes, mode and owner, leaving no temp file', () => {
    const target = join(sandbox.path, 'app.conf');
    fs.writeFileSync(target, 'old');
    writeFileAtomically(target, 'port = 8080\n', { mode: 0o640, uid: 65534, gid: 65534 });
    const st = fs.lstatSync(target);
    expect(fs.readFileSync(target, 'utf8')).toBe('port = 8080\n');
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o640, 65534, 65534]);
    expect(entries()).toEqual(['app.conf']);
  });

  it('replaces a symlink planted at the target instead of writing through it', () => {
    const decoy = join(sandbox.path, 'decoy');
    fs.writeFileSync(decoy, 'decoy');
    const target = join(sandbox.path, 'app.conf');
    fs.symlinkSync(decoy, target);
    writeFileAtomically(target, 'new', { mode: 0o644 });
    expect(fs.lstatSync(target).isFile()).toBe(true);
    expect(fs.readFileSync(decoy, 'utf8')).toBe('decoy');
  });

  it('removes its temp file and leaves the target alone when the rename fails', () => {
    const target = join(sandbox.path, 'a-directory');
    fs.mkdirSync(join(target, 'inside'), { recursive: true });
    expect(() => writeFileAtomically(target, 'x', { mode: 0o644 })).toThrow();
    expect(entries()).toEqual(['a-directory']);
    expect(fs.readdirSync(target)).toEqual(['inside']);
  });

  it('sets a custom temp prefix, and removeTemporaryFiles finds leftovers by it', () => {
    const target = join(sandbox.path, 'app.service');
    fs.writeFileSync(join(sandbox.path, '.#app.service.unwind-0123'), 'left by a crash');
    fs.mkdirSync(join(sandbox.path, '.#app.service.unwind-dir')); // never a directory
    writeFileAtomically(target, '[Unit]\n', { mode: 0o644, temporaryPrefix: '.#app.service.unwind-' });
    expect(removeTemporaryFiles(target, '.#app.service.unwind-')).toBe(1);
    expect(entries()).toEqual(['.#app.service.unwind-dir', 'app.service']);
  });
});

describe('writeTemporaryFile', () => {
  it('refuses a name something is already at (a planted symlink is never opened)', () => {
    const decoy = join(sandbox.path, 'decoy');
    fs.writeFileSync(decoy, 'decoy');
    const temporary = temporaryNameFor(join(sandbox.path, 'app.conf'));
    fs.symlinkSync(decoy, temporary);
    expect(() => writeTemporaryFile(temporary, 'x', { mode: 0o600 })).toThrow(/EEXIST/);
    expect(fs.readFileSync(decoy, 'utf8')).toBe('decoy');
    expect(fs.lstatSync(temporary).isSymbolicLink()).toBe(true);
  });

  it('sets the owner before the mode, so set-id bits survive the chown', () => {
    const temporary = temporaryNameFor(join(sandbox.path, 'tool'));
    writeTemporaryFile(temporary, '#!/bin/sh\n', { mode: 0o4755, uid: 65534, gid: 65534 });
    expect(fs.statSync(temporary).mode & 0o7777).toBe(0o4755);
  });

  it('names are unpredictable and stay in the target directory', () => {
    const a = temporaryNameFor('/etc/app.conf');
    const b = temporaryNameFor('/etc/app.conf');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^\/etc\/\.app\.conf\.unwind-[0-9a-f]{32}$/);
  });
});

describe('writeFully and writeNewFileDurably', () => {
  it('a write that cannot complete is a DurableWriteError, not a silent half write', () => {
    const fd = fs.openSync('/dev/full', 'w');
    try {
      expect(() => writeFully(fd, 'record\n', '/dev/full')).toThrow(DurableWriteError);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('writeNewFileDurably never replaces or follows what is already there', () => {
    const decoy = join(sandbox.path, 'decoy');
    fs.writeFileSync(decoy, 'decoy');
    fs.symlinkSync(decoy, join(sandbox.path, 'blob'));
    expect(() => writeNewFileDurably(join(sandbox.path, 'blob'), 'x')).toThrow(/EEXIST/);
    expect(fs.readFileSync(decoy, 'utf8')).toBe('decoy');
  });

  it('syncFile does not follow a symlink and, with missingOk, accepts a vanished path', () => {
    fs.symlinkSync('/nonexistent', join(sandbox.path, 'link'));
    expect(() => syncFile(join(sandbox.path, 'link'))).not.toThrow();
    expect(() => syncFile(join(sandbox.path, 'gone'), { missingOk: true })).not.toThrow();
    expect(() => syncFile(join(sandbox.path, 'gone'))).toThrow(/ENOENT/);
  });
});
