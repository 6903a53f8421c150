import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { create, diff, readManifest, restore } from '@unwind/snapshots';
import { changedByOthers, parseLeft, recordLeft } from '../src/left.js';
import { replaceFsFunction, type FsFunctionName } from '@unwind/core/testing';
import { isRoot, tempDir } from './helpers.js';

// Everything a scan reads is read through the descriptor of the directory it is in, and a file's hash and
// identity come from one descriptor (scan.ts). A user who owns a directory on the way (here `home`) can swap
// the directory below it (`sub`) for a symlink to a directory of theirs for exactly as long as a file in it
// is opened to be hashed: by path, the scan then hashed her decoy and recorded the real file's identity, so a
// restore reported success for a file it never rewrote (its verification reused that hash), a diff showed no
// difference, and a rollback's record held the decoy's content. The swap is made at that exact moment by
// wrapping fs.openSync.

const USER = 4242;
const O_PATH = 0o10000000;
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** Replaces fs[name] with `wrap(real)` until the test ends. */
const hook = (name: FsFunctionName, wrap: (real: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown) => cleanups.push(replaceFsFunction(name, wrap));

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const SECOND = 1_600_000_000;

/** `tree/home/sub/passwd` ('mine\n', snapshotted), `home` and what is in it hers; her decoy directory holds a `passwd` with the snapshot's bytes. */
async function snapshotted() {
  const base = tempDir();
  cleanups.push(base.remove);
  const tree = join(base.path, 'tree'), home = join(tree, 'home'), sub = join(home, 'sub'), decoy = join(base.path, 'decoy');
  fs.mkdirSync(sub, { recursive: true });
  fs.mkdirSync(decoy);
  const passwd = join(sub, 'passwd');
  fs.writeFileSync(passwd, 'mine\n', { mode: 0o644 });
  fs.utimesSync(passwd, SECOND, SECOND);
  fs.writeFileSync(join(decoy, 'passwd'), 'mine\n');
  if (isRoot) for (const p of [home, sub, passwd, decoy, join(decoy, 'passwd')]) fs.chownSync(p, USER, USER);
  fs.utimesSync(home, SECOND, SECOND);
  const store = join(base.path, 'store');
  const snap = await create({ source: tree, store });
  // Her change after the snapshot: same size and mtime, other bytes.
  fs.writeFileSync(passwd, 'MINE\n');
  fs.utimesSync(passwd, SECOND, SECOND);
  return { tree, home, sub, decoy, passwd, store, id: snap.id };
}

/**
 * The first time a `passwd` is opened from now on, `sub` is her symlink to the decoy for the length of that
 * open; then she puts it back, and the mtime of `home` too.
 */
function swapDuringFirstOpen(w: { home: string; sub: string; decoy: string }): void {
  let done = false;
  hook('openSync', (real) => (path, flags, ...rest) => {
    if (done || !String(path).endsWith('/passwd') || typeof flags !== 'number' || (flags & O_PATH) === 0) return real(path, flags, ...rest);
    done = true;
    fs.renameSync(w.sub, `${w.sub}.real`);
    fs.symlinkSync(w.decoy, w.sub);
    try {
      return real(path, flags, ...rest);
    } finally {
      fs.unlinkSync(w.sub);
      fs.renameSync(`${w.sub}.real`, w.sub);
      fs.utimesSync(w.home, SECOND, SECOND);
    }
  });
}

describe('a scan hashes the file whose identity it records, through its directory\'s descriptor', () => {
  it('restore: her directory swapped for a symlink while the first scan hashes a changed file cannot make the restore skip it and report success', async () => {
    const w = await snapshotted();
    swapDuringFirstOpen(w);
    const report = await restore({ store: w.store, id: w.id });
    expect(fs.readFileSync(w.passwd, 'utf8')).toBe('mine\n');
    expect(report.rewritten).toBe(1);
  });

  it('diff: a directory swapped for a symlink during the hash is not followed; the changed file is reported', async () => {
    const w = await snapshotted();
    swapDuringFirstOpen(w);
    const differences = await diff({ store: w.store, id: w.id });
    expect(differences.some((line) => line.startsWith('home/sub/passwd: '))).toBe(true);
  });

  it('recordLeft: the rollback record holds the real file\'s content, not the decoy\'s; changedByOthers hashes through descriptors too', async () => {
    const w = await snapshotted();
    const entries = readManifest(w.store, w.id).entries;
    swapDuringFirstOpen(w);
    const record = parseLeft(await recordLeft(w.tree, entries))!;
    expect(record.states.get('home/sub/passwd')).toContain(sha256('MINE\n'));
    // Later she puts the snapshot's bytes back herself; a check that followed her swap would see the decoy as hers.
    fs.writeFileSync(w.passwd, 'mine\n');
    fs.utimesSync(w.passwd, SECOND, SECOND);
    const recorded = parseLeft(await recordLeft(w.tree, entries))!;
    fs.writeFileSync(w.passwd, 'MiNE\n');
    fs.utimesSync(w.passwd, SECOND, SECOND);
    swapDuringFirstOpen(w);
    const foreign = await changedByOthers(w.tree, recorded, entries);
    expect(foreign.map((f) => f.path)).toContain('home/sub/passwd');
  });

  it('a FIFO swapped in for a file is reported as one (UnsupportedEntryError), never opened for reading nor waited on, by diff and recordLeft', async () => {
    for (const scan of [(w: { store: string; id: string; tree: string }) => diff({ store: w.store, id: w.id }), (w: { tree: string }) => recordLeft(w.tree)]) {
      const w = await snapshotted();
      let swapped = false;
      hook('openSync', (real) => (path, flags, ...rest) => {
        if (!swapped && String(path).endsWith('/passwd')) {
          swapped = true;
          fs.unlinkSync(w.passwd);
          expect(spawnSync('mkfifo', [w.passwd]).status).toBe(0);
        }
        return real(path, flags, ...rest);
      });
      await expect(scan(w)).rejects.toMatchObject({ code: 'SNAPSHOT_UNSUPPORTED_ENTRY', context: { kind: 'FIFO', swapped: true } });
      cleanups.pop()!(); // the hook
    }
  }, 20_000);

  it('a directory swapped for a symlink between its lstat and its open is refused (UnsupportedEntryError), not followed', async () => {
    const w = await snapshotted();
    let swapped = false;
    hook('openSync', (real) => (path, flags, ...rest) => {
      if (!swapped && String(path).endsWith('/sub')) {
        swapped = true;
        fs.renameSync(w.sub, `${w.sub}.real`);
        fs.symlinkSync(w.decoy, w.sub);
      }
      return real(path, flags, ...rest);
    });
    await expect(diff({ store: w.store, id: w.id })).rejects.toMatchObject({ code: 'SNAPSHOT_UNSUPPORTED_ENTRY', context: { kind: 'symlink', swapped: true } });
  });
});
