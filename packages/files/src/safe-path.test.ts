import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SymlinkRefusedError, UnexpectedFileTypeError } from './errors.js';
import { openDirectorySafely } from './safe-path.js';

// The walk on a real disk: what each kind of entry on the way does to it. (Links owned by
// others, unsafe transitions and swaps between prepare and do: security/paths-symlinks-above.)
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'unwind-safe-path-'));
  fs.mkdirSync(join(dir, 'a/b'), { recursive: true });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The directory an open descriptor names, and whether it can list (O_RDONLY) or only name (O_PATH). */
function describeDescriptor(fd: number): { ino: bigint; lists: boolean } {
  try {
    const ino = fs.fstatSync(fd, { bigint: true }).ino;
    let lists = true;
    try {
      fs.readdirSync(`/proc/self/fd/${fd}`);
      fs.fsyncSync(fd);
    } catch {
      lists = false;
    }
    return { ino, lists };
  } finally {
    fs.closeSync(fd);
  }
}

describe('openDirectorySafely', () => {
  it('opens the directory itself, for listing and syncing; with pathOnly, a descriptor that only names it', () => {
    const ino = fs.statSync(join(dir, 'a/b'), { bigint: true }).ino;
    expect(describeDescriptor(openDirectorySafely(join(dir, 'a/b'), { what: 'test' }))).toEqual({ ino, lists: true });
    const named = openDirectorySafely(join(dir, 'a/b'), { what: 'test', pathOnly: true });
    // Entries are reached through it, as the callers do.
    fs.writeFileSync(join(dir, 'a/b/file'), 'x');
    expect(fs.lstatSync(`/proc/self/fd/${named}/file`).isFile()).toBe(true);
    expect(describeDescriptor(named)).toEqual({ ino, lists: false });
  });

  it('follows a link owned by the running user in a private directory, and .. in its target', () => {
    fs.symlinkSync('a/b', join(dir, 'link'));
    fs.chmodSync(dir, 0o700);
    const ino = fs.statSync(join(dir, 'a/b'), { bigint: true }).ino;
    expect(describeDescriptor(openDirectorySafely(join(dir, 'link'), { what: 'test', follow: true })).ino).toBe(ino);
    // `..` is met only in a link's target: the path itself is normalized first, as the caller wrote it.
    fs.symlinkSync('a/../a/b', join(dir, 'up-and-down'));
    expect(describeDescriptor(openDirectorySafely(join(dir, 'up-and-down'), { what: 'test', follow: true, pathOnly: true })).ino).toBe(ino);
  });

  it('refuses a symlink at the last component unless told to follow it', () => {
    fs.symlinkSync('a/b', join(dir, 'link'));
    expect(() => openDirectorySafely(join(dir, 'link'), { what: 'test' })).toThrow(SymlinkRefusedError);
  });

  it('refuses a missing component, and every kind of non-directory on the way, without opening it', () => {
    fs.writeFileSync(join(dir, 'file'), 'x');
    fs.symlinkSync('file', join(dir, 'to-file'));
    makeFifo(join(dir, 'fifo'));
    const before = fs.readdirSync(dir).sort();
    expect(() => openDirectorySafely(join(dir, 'missing/x'), { what: 'test' })).toThrow(/is gone \(.*missing does not exist\)/);
    for (const name of ['file', 'fifo', 'to-file']) {
      const error = catchError(() => openDirectorySafely(join(dir, name, 'x'), { what: 'test' }));
      expect(error, name).toBeInstanceOf(UnexpectedFileTypeError);
      expect((error as Error).message, name).toMatch(/is not a directory/);
    }
    // A device as a component: O_PATH never opens the device itself.
    expect(() => openDirectorySafely('/dev/null/x', { what: 'test' })).toThrow(UnexpectedFileTypeError);
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  });

  it('leaves no descriptor open, whether it succeeds or refuses', () => {
    fs.writeFileSync(join(dir, 'file'), 'x');
    const open = () => fs.readdirSync('/proc/self/fd').length;
    const start = open();
    for (let i = 0; i < 20; i++) {
      fs.closeSync(openDirectorySafely(join(dir, 'a/b'), { what: 'test' }));
      fs.closeSync(openDirectorySafely(join(dir, 'a/b'), { what: 'test', pathOnly: true }));
      catchError(() => openDirectorySafely(join(dir, 'file/x'), { what: 'test' }));
      catchError(() => openDirectorySafely(join(dir, 'missing'), { what: 'test', pathOnly: true }));
    }
    expect(open()).toBe(start);
  });
});

// Where `/` and every directory down to the last one's parent are root's and writable by nobody
// else, the directory is opened by its path at once, without the walk: the machine's /run (root's,
// 0755) here, since every temporary directory is under /tmp, which everyone can write.
describe('openDirectorySafely through directories only root can change', () => {
  let place: string;
  beforeEach(() => {
    if (fs.statSync('/run').uid !== 0 || fs.statSync('/run').mode & 0o022) throw new Error('/run is not root-only here: run inside the throw-away machine');
    place = fs.mkdtempSync('/run/unwind-safe-path-');
    fs.mkdirSync(join(place, 'a/b'), { recursive: true });
  });
  afterEach(() => fs.rmSync(place, { recursive: true, force: true }));

  it('opens the directory the path names, for listing or only naming it', () => {
    const ino = fs.statSync(join(place, 'a/b'), { bigint: true }).ino;
    expect(describeDescriptor(openDirectorySafely(join(place, 'a/b'), { what: 'test' }))).toEqual({ ino, lists: true });
    expect(describeDescriptor(openDirectorySafely(join(place, 'a/b'), { what: 'test', pathOnly: true }))).toEqual({ ino, lists: false });
  });

  it("still refuses a link above it that another user owns, and one at its last component unless told to follow (the kernel's lookup would follow both)", () => {
    fs.symlinkSync(join(place, 'a'), join(place, 'theirs'));
    fs.lchownSync(join(place, 'theirs'), 4242, 4242);
    expect(() => openDirectorySafely(join(place, 'theirs/b'), { what: 'test' })).toThrow(/is a symlink owned by uid 4242/);
    fs.symlinkSync('b', join(place, 'a/last'));
    expect(() => openDirectorySafely(join(place, 'a/last'), { what: 'test' })).toThrow(SymlinkRefusedError);
    expect(describeDescriptor(openDirectorySafely(join(place, 'a/last'), { what: 'test', follow: true })).ino).toBe(fs.statSync(join(place, 'a/b'), { bigint: true }).ino);
  });

  // (A directory writable by others is left to the walk for what could change in it between a look
  // and the open; no single-threaded test can show that race.)
  it("a directory above it that others can write, or another user's, takes the walk and its rules", () => {
    fs.chmodSync(join(place, 'a'), 0o777);
    fs.symlinkSync(join(place, 'a/b'), join(place, 'a/planted'));
    // root's own link, but in a directory anyone could have put it in
    expect(() => openDirectorySafely(join(place, 'a/planted'), { what: 'test', follow: true })).toThrow(/which others can change/);
    fs.chmodSync(join(place, 'a'), 0o755);
    fs.chownSync(join(place, 'a'), 4242, 4242);
    fs.mkdirSync(join(place, 'a/root-owned/x'), { recursive: true });
    // The kernel's lookup would open it; the walk refuses to leave a user's directory for root's.
    expect(() => openDirectorySafely(join(place, 'a/root-owned/x'), { what: 'test' })).toThrow(/unsafe path transition/);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
}

/** A named pipe: opening it for reading would block, which the walk must never do. */
function makeFifo(path: string): void {
  execFileSync('mkfifo', [path]);
}
