import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { runTypeScript, temporaryDirectory, treeState, type ChildOutcome } from '@unwind/core/testing';

/** The repository root, where `--import tsx` resolves. */
export const repoRoot = resolve(import.meta.dirname, '../../..');
export const isRoot = process.getuid?.() === 0;

/** A temp directory; `remove` is idempotent. */
export function tempDir(prefix = 'unwind-snapshots-'): { path: string; remove: () => void } {
  return temporaryDirectory(prefix);
}

/**
 * A temp directory holding `collection` (a {@link makeTree} tree), with the
 * journal root and snapshot store paths beside it (not created); its removal
 * goes on `cleanups`.
 */
export function collectionSandbox(cleanups: Array<() => void>): { base: string; dir: string; root: string; store: string } {
  const base = tempDir();
  cleanups.push(base.remove);
  const dir = join(base.path, 'collection');
  fs.mkdirSync(dir);
  makeTree(dir);
  return { base: base.path, dir, root: join(base.path, 'journal'), store: join(base.path, 'store') };
}

function setTime(path: string, seconds: number): void {
  fs.lutimesSync(path, seconds, seconds);
}

/**
 * A tree with every kind of thing a snapshot must bring back: nested and
 * empty directories, odd modes, other owners (as root), relative, absolute
 * and dangling symlinks, a hard-link group, an empty file and a file larger
 * than the 1 MiB hashing chunk; mtimes set to fixed values.
 */
export function makeTree(dir: string): void {
  fs.mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  fs.mkdirSync(join(dir, 'empty'));
  fs.writeFileSync(join(dir, 'a.conf'), 'port = 80\n', { mode: 0o640 });
  fs.writeFileSync(join(dir, 'empty.txt'), '');
  fs.writeFileSync(join(dir, 'sub', 'b.txt'), 'bee\n');
  fs.writeFileSync(join(dir, 'sub', 'deeper', 'c.bin'), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  fs.writeFileSync(join(dir, 'script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  fs.chmodSync(join(dir, 'a.conf'), 0o640);
  fs.chmodSync(join(dir, 'script.sh'), 0o4755);
  fs.linkSync(join(dir, 'sub', 'b.txt'), join(dir, 'b-hardlink.txt'));
  fs.linkSync(join(dir, 'sub', 'b.txt'), join(dir, 'sub', 'deeper', 'b-again.txt'));
  fs.symlinkSync('a.conf', join(dir, 'link-rel'));
  fs.symlinkSync('/nonexistent/target', join(dir, 'link-dangling'));
  fs.symlinkSync('sub', join(dir, 'link-dir'));
  if (isRoot) {
    fs.lchownSync(join(dir, 'a.conf'), 1234, 5678);
    fs.lchownSync(join(dir, 'sub'), 4321, 0);
    // Its directory too: a restore goes from a directory of another user only into one of that user's
    // (or one it made itself), else that user could have moved someone else's directory in.
    fs.lchownSync(join(dir, 'sub', 'deeper'), 4321, 0);
    fs.lchownSync(join(dir, 'link-rel'), 1234, 1234);
  }
  fs.chmodSync(join(dir, 'empty'), 0o700);
  const walk = (p: string, t: number) => {
    for (const name of fs.readdirSync(p)) {
      const child = join(p, name);
      if (fs.lstatSync(child).isDirectory()) walk(child, t + 1);
      setTime(child, 1_600_000_000 + t * 1000 + name.length + 0.123456);
    }
  };
  walk(dir, 1);
  // A nanosecond mtime (Node can only set microseconds): restore must land in the same microsecond.
  run(['touch', '-h', '-d', '@1600000123.987654321', join(dir, 'sub', 'b.txt')]);
  setTime(dir, 1_600_000_000.5);
}

/** Every kind of change: edits, deletions, additions, type changes, modes, owners, links, times. */
export function mutateTree(dir: string): void {
  fs.writeFileSync(join(dir, 'a.conf'), 'port = 8080\n');
  fs.rmSync(join(dir, 'sub', 'deeper'), { recursive: true });
  fs.writeFileSync(join(dir, 'new-file'), 'new');
  fs.mkdirSync(join(dir, 'new-dir', 'inner'), { recursive: true });
  fs.writeFileSync(join(dir, 'new-dir', 'inner', 'x'), 'x');
  fs.rmSync(join(dir, 'empty'), { recursive: true });
  fs.writeFileSync(join(dir, 'empty'), 'now a file');
  fs.rmSync(join(dir, 'link-rel'));
  fs.symlinkSync('sub/b.txt', join(dir, 'link-rel'));
  fs.rmSync(join(dir, 'link-dir'));
  fs.mkdirSync(join(dir, 'link-dir'));
  fs.chmodSync(join(dir, 'script.sh'), 0o600);
  fs.rmSync(join(dir, 'b-hardlink.txt'));
  fs.writeFileSync(join(dir, 'b-hardlink.txt'), 'bee\n'); // same bytes, no longer a hard link
  fs.linkSync(join(dir, 'a.conf'), join(dir, 'sneaky-link'));
  if (isRoot) fs.lchownSync(join(dir, 'sub', 'b.txt'), 999, 999);
  fs.utimesSync(join(dir, 'sub'), 1_700_000_000, 1_700_000_000);
}

/**
 * treeState plus what it leaves out: mtimes (to the microsecond) and
 * hard-link groups (the first path sharing each inode).
 */
export function richState(dir: string) {
  const firstOfInode = new Map<number, string>();
  return treeState(dir).map((e) => {
    const st = fs.lstatSync(join(dir, e.path), { bigint: true });
    const ino = Number(st.ino);
    if (!firstOfInode.has(ino)) firstOfInode.set(ino, e.path);
    return { ...e, mtimeUs: (st.mtimeNs / 1000n).toString(), linkGroup: e.type === 'file' ? firstOfInode.get(ino) : undefined };
  });
}

/** Runs a TypeScript file in a child node process (stdout discarded); resolves with how it ended. */
export function runChild(script: string, args: string[], options: { killAfterMs?: number } = {}): Promise<ChildOutcome> {
  return runTypeScript(script, args, { ...options, cwd: repoRoot, stdout: 'ignore' });
}

/** Runs a program, throwing with its stderr when it fails. */
export function run(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
}

/** Whether this process may mount (root, in a mount namespace of its own or not). */
export const canMount = isRoot && spawnSync('mount', ['--version']).status === 0;
