import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeTreeSafely } from './remove-tree.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-users-tree-'));
  made.push(dir);
  return dir;
}

describe('removeTreeSafely', () => {
  it('removes a tree of files, directories and symlinks, never following a link', () => {
    const outside = tempDir();
    fs.writeFileSync(join(outside, 'victim'), 'keep');
    const tree = join(tempDir(), 'staged');
    fs.mkdirSync(join(tree, 'a/b/c'), { recursive: true });
    fs.writeFileSync(join(tree, 'a/b/c/f'), 'x');
    fs.writeFileSync(join(tree, 'top'), 'x');
    fs.symlinkSync(outside, join(tree, 'a/link'));
    removeTreeSafely(tree);
    expect(fs.existsSync(tree)).toBe(false);
    expect(fs.readFileSync(join(outside, 'victim'), 'utf8')).toBe('keep');
  });

  it('a directory swapped for a symlink while the walk is under way is not followed', () => {
    const outside = tempDir();
    fs.writeFileSync(join(outside, 'victim'), 'keep');
    const tree = join(tempDir(), 'staged');
    fs.mkdirSync(join(tree, 'd'), { recursive: true });
    fs.writeFileSync(join(tree, 'd/f'), 'x');
    // What a process of the removed user could do between the walk's look at `d` and its descent into it.
    const swap = (name: string) => {
      if (name !== 'd') return;
      fs.renameSync(join(tree, 'd'), join(tree, 'moved'));
      fs.symlinkSync(outside, join(tree, 'd'));
    };
    removeTreeSafely(tree, { beforeDescend: swap });
    expect(fs.readFileSync(join(outside, 'victim'), 'utf8')).toBe('keep');
    // The link went as a link, and the directory moved aside went in the next pass.
    expect(fs.existsSync(tree)).toBe(false);
  });

  it('never goes into another filesystem mounted inside the tree: refused typed before anything is removed, the mount left whole', () => {
    const tree = join(tempDir(), 'staged');
    const mountPoint = join(tree, 'a', 'mounted');
    fs.mkdirSync(mountPoint, { recursive: true });
    fs.writeFileSync(join(tree, 'beside'), 'x');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    expect(mounted.status, mounted.stderr?.toString()).toBe(0);
    try {
      fs.writeFileSync(join(mountPoint, 'other'), 'keep');
      expect(() => removeTreeSafely(tree)).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH', message: expect.stringMatching(/mounted inside .*; nothing removed/) }));
      expect(fs.readFileSync(join(mountPoint, 'other'), 'utf8')).toBe('keep');
      expect(fs.existsSync(join(tree, 'beside'))).toBe(true);
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });

  it('a bind mount of the same filesystem inside the tree (the same device number) is refused too: what it shows is kept', () => {
    const outside = tempDir();
    fs.writeFileSync(join(outside, 'shared data'), 'keep');
    const tree = join(tempDir(), 'staged');
    const mountPoint = join(tree, 'a', 'with space');
    fs.mkdirSync(mountPoint, { recursive: true });
    const mounted = spawnSync('mount', ['--bind', outside, mountPoint]);
    expect(mounted.status, mounted.stderr?.toString()).toBe(0);
    try {
      expect(fs.statSync(mountPoint).dev).toBe(fs.statSync(tree).dev);
      expect(() => removeTreeSafely(tree)).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH', context: expect.objectContaining({ mountPoint }) }));
      expect(fs.readFileSync(join(outside, 'shared data'), 'utf8')).toBe('keep');
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });

  it('a filesystem mounted inside the tree while the walk is under way (a user\'s FUSE mount) is refused when reached, and left whole', () => {
    const tree = join(tempDir(), 'staged');
    const mountPoint = join(tree, 'late');
    fs.mkdirSync(mountPoint, { recursive: true });
    let mounted = false;
    const mount = (name: string) => {
      if (name !== 'late' || mounted) return;
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]).status).toBe(0);
      fs.writeFileSync(join(mountPoint, 'other'), 'keep');
      mounted = true;
    };
    try {
      expect(() => removeTreeSafely(tree, { beforeDescend: mount })).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH', message: expect.stringMatching(/another filesystem mounted inside/) }));
      expect(fs.readFileSync(join(mountPoint, 'other'), 'utf8')).toBe('keep');
    } finally {
      if (mounted) spawnSync('umount', [mountPoint]);
    }
  });
});
