import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { create, restore } from '@unwind/snapshots';
import { isRoot, tempDir } from './helpers.js';

// A user who owns a directory in the tree can put an inode of her own, with the snapshot's exact bytes,
// where a root-owned file was, and keep it open (or mapped MAP_SHARED writable: writes through a mapping
// clear no set-id bit). A restore that kept it for its content and set its owner and mode in place made
// her inode a set-uid-root program she can still write; one that hard-linked root's other name to it
// gave her content a name in a directory of root's. A live file of another owner than the snapshot's is
// never kept: root writes a new inode, and hers is left as it was.

const USER = 4242;
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** `tree/` (root's) holding `alice/` (the user's) and `sbin/` (root's). */
function sandbox() {
  const base = tempDir();
  cleanups.push(base.remove);
  const tree = join(base.path, 'tree');
  const alice = join(tree, 'alice');
  const sbin = join(tree, 'sbin');
  fs.mkdirSync(alice, { recursive: true, mode: 0o755 });
  fs.mkdirSync(sbin, { mode: 0o755 });
  fs.chmodSync(tree, 0o755);
  fs.chownSync(alice, USER, USER);
  return { tree, alice, sbin, store: join(base.path, 'store') };
}

/** What the user does: her own inode with the same bytes renamed over `path`, held open (as a mapping would hold it). */
function swapInOwnCopy(path: string): number {
  const mine = `${path}.mine`;
  fs.writeFileSync(mine, fs.readFileSync(path), { mode: 0o644 });
  fs.chownSync(mine, USER, USER);
  fs.chmodSync(mine, 0o644);
  fs.renameSync(mine, path);
  const fd = fs.openSync(path, 'r+');
  cleanups.push(() => fs.closeSync(fd));
  return fd;
}

describe.runIf(isRoot)('a file of the user with the bytes of a file of root', () => {
  it('is not given root as owner nor a set-uid mode in place: a new inode of root is written', async () => {
    const s = sandbox();
    const tool = join(s.alice, 'tool');
    fs.writeFileSync(tool, `#!/bin/sh\necho original\n${'x'.repeat(4096)}`);
    fs.chmodSync(tool, 0o4755);
    const snap = await create({ source: s.tree, store: s.store });
    const hers = swapInOwnCopy(tool);
    const herInode = fs.fstatSync(hers).ino;

    const report = await restore({ store: s.store, id: snap.id });

    expect(report.rewritten).toBe(1);
    const mine = fs.fstatSync(hers);
    expect({ uid: mine.uid, gid: mine.gid, mode: mine.mode & 0o7777 }).toEqual({ uid: USER, gid: USER, mode: 0o644 });
    const now = fs.lstatSync(tool);
    expect(now.ino).not.toBe(herInode);
    expect({ uid: now.uid, mode: now.mode & 0o7777 }).toEqual({ uid: 0, mode: 0o4755 });
  });

  it("is not hard-linked under root's other name: both names get a new inode of root", async () => {
    const s = sandbox();
    const tool = join(s.alice, 'tool');
    fs.writeFileSync(tool, '#!/bin/sh\necho root tool\n', { mode: 0o755 });
    fs.linkSync(tool, join(s.sbin, 'tool'));
    const snap = await create({ source: s.tree, store: s.store });
    const hers = swapInOwnCopy(tool);

    await restore({ store: s.store, id: snap.id });

    const mine = fs.fstatSync(hers);
    expect({ uid: mine.uid, mode: mine.mode & 0o7777, nlink: mine.nlink }).toEqual({ uid: USER, mode: 0o644, nlink: 0 });
    const root = fs.lstatSync(join(s.sbin, 'tool'));
    expect({ uid: root.uid, mode: root.mode & 0o7777, nlink: root.nlink }).toEqual({ uid: 0, mode: 0o755, nlink: 2 });
    expect(root.ino).toBe(fs.lstatSync(tool).ino);
  });

  it("a kept file of root in her directory gets its mode before its second name is made, so the restore completes", async () => {
    const s = sandbox();
    const tool = join(s.alice, 'tool');
    fs.writeFileSync(tool, '#!/bin/sh\necho root tool\n', { mode: 0o755 });
    fs.linkSync(tool, join(s.sbin, 'tool'));
    const snap = await create({ source: s.tree, store: s.store });
    fs.chmodSync(tool, 0o700);
    fs.unlinkSync(join(s.sbin, 'tool'));
    const before = fs.lstatSync(tool).ino;

    const report = await restore({ store: s.store, id: snap.id });

    expect([report.rewritten, report.relinked]).toEqual([0, 1]);
    const st = fs.lstatSync(join(s.sbin, 'tool'));
    expect({ ino: st.ino, uid: st.uid, mode: st.mode & 0o7777, nlink: st.nlink }).toEqual({ ino: before, uid: 0, mode: 0o755, nlink: 2 });
  });
});
