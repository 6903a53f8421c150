import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defineStep, memoryJournal, t, transaction, type RollbackFailedOutcome } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';
import { UnsafeTreeError, create, diff, restore, snapshot } from '@unwind/snapshots';
import { testHooks } from '../src/hooks.js';
import { isRoot, richState, runChild, tempDir } from './helpers.js';

// A restore acts on trees others own parts of (a user's ~/.config/app). A user who owns a directory in
// the tree may swap it for a symlink to /etc between the scan and the writes (audit finding 1), or make a
// file of theirs a hard link to one outside the tree (finding 2). Restore acts only through the open
// descriptor of each directory (tree-safety.ts): a user-owned tree restores and verifies, and whatever its
// owner does meanwhile, nothing outside the tree changes. And nothing a snapshot reads is waited on: a
// FIFO swapped in for a scanned file fails a snapshot at once (finding 5).

const USER = 4242;
const cleanups: Array<() => void> = [];
afterEach(() => {
  testHooks.point = undefined;
  cleanups.splice(0).forEach((c) => c());
});

/** A base holding `tree/` (root's, 0755) and `victim/` (stands for /etc: root's files outside the tree). */
function sandbox() {
  const base = tempDir();
  cleanups.push(base.remove);
  const tree = join(base.path, 'tree');
  const victim = join(base.path, 'victim');
  fs.mkdirSync(join(tree, 'home', 'sub'), { recursive: true, mode: 0o755 });
  fs.chmodSync(tree, 0o755);
  fs.mkdirSync(join(victim, 'etc'), { recursive: true });
  fs.writeFileSync(join(victim, 'passwd'), 'root:x:0:0::/root:/bin/bash\n', { mode: 0o644 });
  fs.writeFileSync(join(victim, 'shadow'), 'root:$6$secret\n', { mode: 0o600 });
  return { base: base.path, tree, victim, store: join(base.path, 'store') };
}

function victimState(victim: string) {
  return richState(victim).map((e) => ({ ...e, mtimeUs: undefined }));
}

/** `tree/home/sub` owned by the user, with two files of theirs named like the victim's. */
function userSandbox() {
  const s = sandbox();
  const sub = join(s.tree, 'home', 'sub');
  fs.writeFileSync(join(sub, 'passwd'), 'mine\n');
  fs.writeFileSync(join(sub, 'shadow'), 'mine too\n', { mode: 0o666 });
  fs.chmodSync(join(sub, 'shadow'), 0o666);
  for (const p of [sub, join(sub, 'passwd'), join(sub, 'shadow')]) fs.chownSync(p, USER, USER);
  return { ...s, sub };
}

/** The user's moves after the snapshot: their files changed, an entry added, so the restore has work in `sub`. */
function userChanges(sub: string): void {
  fs.writeFileSync(join(sub, 'passwd'), 'root::0:0:pwned:/root:/bin/bash\n');
  fs.chmodSync(join(sub, 'shadow'), 0o600);
  fs.mkdirSync(join(sub, 'etc'));
}

/** Swaps the user's directory for a symlink to the victim at the restore's `at`-th operation. */
function swapAt(sub: string, victim: string, at: number): void {
  testHooks.point = (where, n) => {
    if (where !== 'restore' || n !== at) return;
    fs.renameSync(sub, `${sub}.real`);
    fs.symlinkSync(victim, sub);
  };
}

describe.runIf(isRoot)('restore of a tree a user owns parts of', () => {
  it('a user-owned directory with no attack: restored and verified, owners and modes put back', async () => {
    const s = userSandbox();
    fs.mkdirSync(join(s.sub, 'nested'));
    fs.writeFileSync(join(s.sub, 'nested', 'deep'), 'deep\n');
    for (const p of [join(s.sub, 'nested'), join(s.sub, 'nested', 'deep')]) fs.chownSync(p, USER, USER);
    const before = richState(s.tree);
    const snap = await create({ source: s.tree, store: s.store });
    userChanges(s.sub);
    fs.rmSync(join(s.sub, 'nested'), { recursive: true });
    fs.chownSync(join(s.sub, 'shadow'), 0, 0);
    const report = await restore({ store: s.store, id: snap.id });
    expect(report.unchanged).toBe(false);
    expect(await diff({ store: s.store, id: snap.id })).toEqual([]);
    expect(richState(s.tree)).toEqual(before);
    const nested = fs.statSync(join(s.sub, 'nested'));
    expect([nested.uid, nested.mode & 0o7777]).toEqual([USER, 0o755]);
  });

  it('the user swaps their directory for a symlink between planning and apply: refused where it is met, nothing outside changed', async () => {
    const s = userSandbox();
    const snap = await create({ source: s.tree, store: s.store });
    userChanges(s.sub);
    // The first operation removes this extra (before anything in home/sub): the swap comes before the
    // restore has opened the user's directory.
    fs.writeFileSync(join(s.tree, 'extra'), 'x');
    swapAt(s.sub, s.victim, 1);
    const victimBefore = victimState(s.victim);
    const refusal = await restore({ store: s.store, id: snap.id }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(UnsafeTreeError);
    expect(refusal).toMatchObject({ code: 'SNAPSHOT_UNSAFE_TREE', context: { path: s.sub } });
    expect((refusal as Error).message).toContain(`${s.sub} is a symlink now, where the restore expects a directory; it was not followed`);
    expect(victimState(s.victim)).toEqual(victimBefore);
    expect(fs.existsSync(join(s.tree, 'extra'))).toBe(false); // what came before the swap was done
    expect(fs.readFileSync(join(`${s.sub}.real`, 'passwd'), 'utf8')).toBe('root::0:0:pwned:/root:/bin/bash\n'); // the user's own, as they left it
  });

  it('the user swaps their directory once the restore works in it: the rest lands in the directory itself (moved), never outside; a typed failure', async () => {
    const s = userSandbox();
    const snap = await create({ source: s.tree, store: s.store });
    userChanges(s.sub);
    swapAt(s.sub, s.victim, 1); // after the first operation, the removal of home/sub/etc
    const victimBefore = victimState(s.victim);
    const refusal = await restore({ store: s.store, id: snap.id }).catch((e: unknown) => e);
    // Its files are done in the directory it had open; then the directory's own mtime is refused (a
    // symlink is at home/sub now), or, were that set first, the verification of the path would fail.
    expect(['SNAPSHOT_UNSAFE_TREE', 'RESTORE_NOT_VERIFIED']).toContain((refusal as { code?: string }).code);
    expect(victimState(s.victim)).toEqual(victimBefore);
    const real = `${s.sub}.real`;
    expect(fs.readdirSync(real).sort()).toEqual(['passwd', 'shadow']);
    expect(fs.readFileSync(join(real, 'passwd'), 'utf8')).toBe('mine\n');
    expect(fs.statSync(join(real, 'shadow')).mode & 0o7777).toBe(0o666);
  });

  it('the user swaps their directory for another directory before the restore opens it: refused as not the one scanned', async () => {
    const s = userSandbox();
    const snap = await create({ source: s.tree, store: s.store });
    userChanges(s.sub);
    fs.writeFileSync(join(s.tree, 'extra'), 'x');
    testHooks.point = (where, n) => {
      if (where !== 'restore' || n !== 1) return;
      fs.renameSync(s.sub, `${s.sub}.real`);
      fs.mkdirSync(s.sub);
      fs.chownSync(s.sub, USER, USER);
    };
    await expect(restore({ store: s.store, id: snap.id })).rejects.toMatchObject({
      code: 'SNAPSHOT_UNSAFE_TREE',
      context: { path: s.sub },
      message: expect.stringContaining(`directory ${s.sub} was replaced by another since the scan`),
    });
    expect(fs.readdirSync(s.sub)).toEqual([]);
  });

  it('the user swaps an entry whose owner the restore sets for a hard link to a file outside: refused on its type, the outside file keeps its owner', async () => {
    const s = userSandbox();
    const l = join(s.sub, 'l');
    fs.symlinkSync('passwd', l);
    fs.lchownSync(l, USER, USER);
    const snap = await create({ source: s.tree, store: s.store });
    fs.lchownSync(l, 0, 0); // the restore gives it back to the user, in place
    fs.writeFileSync(join(s.tree, 'extra'), 'x');
    testHooks.point = (where, n) => {
      if (where !== 'restore' || n !== 1) return;
      fs.rmSync(l);
      fs.linkSync(join(s.victim, 'shadow'), l); // root stands in for a user where protected_hardlinks=0
    };
    const victimBefore = victimState(s.victim);
    await expect(restore({ store: s.store, id: snap.id })).rejects.toMatchObject({
      code: 'SNAPSHOT_UNSAFE_TREE',
      message: expect.stringContaining(`${l} is a file now, where the restore planned a symlink`),
    });
    expect(victimState(s.victim)).toEqual(victimBefore);
    const st = fs.statSync(join(s.victim, 'shadow'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o600]);
  });

  it('a directory of another owner the user moved into theirs is not gone into (unsafe path transition): its content is untouched', async () => {
    const s = userSandbox();
    const d = join(s.sub, 'd');
    fs.mkdirSync(d);
    fs.writeFileSync(join(d, 'x'), 'x\n');
    for (const p of [d, join(d, 'x')]) fs.chownSync(p, USER, USER);
    const snap = await create({ source: s.tree, store: s.store });
    // The user moves a directory of root's that sits in a place they can write into theirs (root
    // stands in for the rename): the restore would remove its entries and write the snapshot's there.
    fs.rmSync(d, { recursive: true });
    fs.renameSync(join(s.victim, 'etc'), d);
    fs.writeFileSync(join(d, 'keep'), 'root data\n');
    await expect(restore({ store: s.store, id: snap.id })).rejects.toMatchObject({
      code: 'SNAPSHOT_UNSAFE_TREE',
      context: { path: d },
      message: expect.stringContaining(`directory ${d} (owned by uid 0) is in one owned by uid ${USER}: an unsafe path transition`),
    });
    expect(fs.readdirSync(d)).toEqual(['keep']);
    expect(fs.readFileSync(join(d, 'keep'), 'utf8')).toBe('root data\n');
  });

  it("an extra directory of hers holding a directory of root's from outside the tree: root's is not emptied, a typed refusal", async () => {
    const s = userSandbox();
    const snap = await create({ source: s.tree, store: s.store });
    // Her ~/.cache with a directory root left there, moved into her part of the tree as an extra.
    const junk = join(s.sub, 'junk');
    fs.mkdirSync(join(junk, 'tool'), { recursive: true, mode: 0o755 });
    fs.writeFileSync(join(junk, 'tool', 'state.db'), 'root data', { mode: 0o600 });
    fs.chownSync(junk, USER, USER);
    await expect(restore({ store: s.store, id: snap.id })).rejects.toMatchObject({
      code: 'SNAPSHOT_UNSAFE_TREE',
      message: expect.stringContaining(`directory ${join(junk, 'tool')} (owned by uid 0) is in one owned by uid ${USER}: an unsafe path transition`),
    });
    expect(fs.readFileSync(join(junk, 'tool', 'state.db'), 'utf8')).toBe('root data');
  });

  it('a tree under a directory another user owns: not gone into; a sticky world-writable directory inside the tree restores', async () => {
    const s = sandbox();
    fs.chmodSync(join(s.tree, 'home'), 0o1777);
    const snap = await create({ source: s.tree, store: s.store });
    fs.writeFileSync(join(s.tree, 'extra'), 'x');
    await restore({ store: s.store, id: snap.id });
    expect(await diff({ store: s.store, id: snap.id })).toEqual([]);

    // The tree's parent is the user's: they could have moved a directory of root's there.
    const theirs = join(s.base, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o755 });
    fs.renameSync(s.tree, join(theirs, 'tree'));
    fs.chownSync(theirs, USER, USER);
    fs.writeFileSync(join(theirs, 'tree', 'extra'), 'x');
    const before = richState(join(theirs, 'tree'));
    await expect(restore({ store: s.store, id: snap.id, path: join(theirs, 'tree') })).rejects.toMatchObject({
      code: 'SNAPSHOT_UNSAFE_TREE',
      message: expect.stringContaining(`directory ${join(theirs, 'tree')} (owned by uid 0) is in one owned by uid ${USER}: an unsafe path transition`),
    });
    expect(richState(join(theirs, 'tree'))).toEqual(before);
  });

  it('a directory the snapshot would create, owned by another user: made, given its owner, filled and verified', async () => {
    const s = userSandbox();
    fs.mkdirSync(join(s.sub, 'inner'));
    fs.writeFileSync(join(s.sub, 'inner', 'f'), 'f\n');
    for (const p of [join(s.sub, 'inner'), join(s.sub, 'inner', 'f')]) fs.chownSync(p, USER, USER);
    const before = richState(s.tree);
    const snap = await create({ source: s.tree, store: s.store });
    fs.rmSync(s.sub, { recursive: true });
    await restore({ store: s.store, id: snap.id });
    expect(richState(s.tree)).toEqual(before);
  });

  it('a file hard-linked to one outside the tree, in her directory: its owner and mode are not changed in place', async () => {
    const s = userSandbox();
    const f = join(s.sub, 'f');
    fs.copyFileSync(join(s.victim, 'passwd'), f);
    // The victim's owner, so the plan keeps the link for its content and only its mode would be set in
    // place (a file of another owner than the snapshot's is rewritten, never kept: foreign-inode.test.ts).
    fs.chmodSync(f, 0o600);
    fs.utimesSync(f, 1_600_000_000, 1_600_000_000);
    const snap = await create({ source: s.tree, store: s.store });
    fs.rmSync(f);
    fs.linkSync(join(s.victim, 'passwd'), f); // root stands in for a user where protected_hardlinks=0
    const victimBefore = victimState(s.victim);
    await expect(restore({ store: s.store, id: snap.id })).rejects.toMatchObject({
      code: 'SNAPSHOT_UNSAFE_TREE',
      message: expect.stringContaining(`${f} has 2 hard links and its directory can be changed by someone else (owner uid ${USER}, mode 0755)`),
    });
    expect(victimState(s.victim)).toEqual(victimBefore);
    const st = fs.statSync(join(s.victim, 'passwd'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o644]);
  });

  it('a file hard-linked to one outside the tree, in a directory of root\'s: its owner and mode are not changed in place, the restore is refused', async () => {
    const s = sandbox();
    const f = join(s.tree, 'home', 'f');
    // A file holds a copy of a world-readable root file, with another mode...
    fs.copyFileSync(join(s.victim, 'passwd'), f);
    fs.chmodSync(f, 0o600);
    fs.utimesSync(f, 1_600_000_000, 1_600_000_000);
    const snap = await create({ source: s.tree, store: s.store });
    // ...then becomes a hard link to it (root stands in for a user where protected_hardlinks=0).
    fs.rmSync(f);
    fs.linkSync(join(s.victim, 'passwd'), f);
    const victimBefore = victimState(s.victim);
    await expect(restore({ store: s.store, id: snap.id })).rejects.toMatchObject({
      code: 'SNAPSHOT_UNSAFE_TREE',
      message: expect.stringContaining(`${f} has 2 hard links, 1 of them outside the tree`),
    });
    expect(victimState(s.victim)).toEqual(victimBefore);
    const st = fs.statSync(join(s.victim, 'passwd'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o644]);
  });

  it("a file of hers renamed over a file the restore just wrote, before its hard link is made: no link to it, its owner and mode left, the restore refused", async () => {
    const s = userSandbox();
    // A root program with a second name in a directory of root's; its first name is in her directory.
    const tool = join(s.sub, 'tool'), second = join(s.tree, 'tool-too');
    fs.writeFileSync(tool, 'the real tool\n');
    fs.chmodSync(tool, 0o4755);
    fs.linkSync(tool, second);
    // Hers, in the tree when it is snapshotted and scanned: a name inside the tree, so a count of names alone passes it.
    const hers = join(s.sub, 'hers');
    fs.writeFileSync(hers, '#!/bin/sh\nid\n', { mode: 0o755 });
    fs.chownSync(hers, USER, USER);
    const snap = await create({ source: s.tree, store: s.store });
    fs.rmSync(second);
    fs.writeFileSync(tool, 'changed\n');
    let swapped = false;
    testHooks.point = (where) => {
      if (where !== 'restore' || swapped || !fs.existsSync(tool) || fs.readFileSync(tool, 'utf8') !== 'the real tool\n') return;
      swapped = true;
      fs.renameSync(hers, tool); // right after the restore wrote the tool
    };
    await expect(restore({ store: s.store, id: snap.id })).rejects.toMatchObject({
      code: 'SNAPSHOT_UNSAFE_TREE',
      message: expect.stringContaining(`${tool} is not the file the restore put there or found`),
    });
    expect(swapped).toBe(true);
    expect(fs.existsSync(second)).toBe(false);
    const st = fs.statSync(tool);
    expect([fs.readFileSync(tool, 'utf8'), st.uid, st.mode & 0o7777, st.nlink]).toEqual(['#!/bin/sh\nid\n', USER, 0o755, 1]);
  });

  it('hard links all inside the tree (a snapshotted group) still get their mode back in place', async () => {
    const s = sandbox();
    fs.writeFileSync(join(s.tree, 'home', 'a'), 'a\n');
    fs.linkSync(join(s.tree, 'home', 'a'), join(s.tree, 'home', 'sub', 'a-again'));
    const snap = await create({ source: s.tree, store: s.store });
    const ino = fs.statSync(join(s.tree, 'home', 'a')).ino;
    fs.chmodSync(join(s.tree, 'home', 'a'), 0o600);
    const report = await restore({ store: s.store, id: snap.id });
    expect([report.metadata, report.rewritten]).toEqual([1, 0]);
    const st = fs.statSync(join(s.tree, 'home', 'sub', 'a-again'));
    expect([st.ino, st.mode & 0o7777]).toEqual([ino, 0o644]);
  });

  it('hard links all inside the tree whose owner changed: the group is rewritten as a new inode of the snapshot\'s owner', async () => {
    const s = sandbox();
    fs.writeFileSync(join(s.tree, 'home', 'a'), 'a\n');
    fs.linkSync(join(s.tree, 'home', 'a'), join(s.tree, 'home', 'sub', 'a-again'));
    const snap = await create({ source: s.tree, store: s.store });
    const ino = fs.statSync(join(s.tree, 'home', 'a')).ino;
    fs.chownSync(join(s.tree, 'home', 'a'), USER, USER);
    const report = await restore({ store: s.store, id: snap.id });
    expect([report.rewritten, report.relinked]).toEqual([1, 1]);
    const st = fs.statSync(join(s.tree, 'home', 'sub', 'a-again'));
    expect([st.ino === ino, st.uid, st.nlink]).toEqual([false, 0, 2]);
  });
});

/** A forward step that changes a file in the tree (a later step fails, so the snapshot's undo restores). */
const scribble = defineStep({
  type: 'snapshotstest.scribble',
  package: '@unwind/snapshots/test',
  args: t.type({ path: t.string }),
  before: t.null,
  describe: (a) => `write ${a.path}`,
  prepare: async () => null,
  do: async (a) => {
    fs.writeFileSync(a.path, 'changed by the transaction\n');
  },
  undo: async () => {},
});

describe.runIf(isRoot)("the snapshot step's rollback over a tree a user owns parts of", () => {
  it('restores it when nobody interferes', async () => {
    const s = userSandbox();
    const tx = transaction('update', { journal: memoryJournal(), handleSignals: false });
    tx.add(snapshot({ path: s.tree, store: s.store }));
    tx.add(scribble({ path: join(s.sub, 'passwd') }));
    tx.add(failingStep({ message: 'fail' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(fs.readFileSync(join(s.sub, 'passwd'), 'utf8')).toBe('mine\n');
    expect(fs.statSync(join(s.sub, 'passwd')).uid).toBe(USER);
  });

  it('the user swaps their directory for a symlink during the rollback: rollback-failed with a typed error, nothing outside changed', async () => {
    const s = sandbox();
    const sub = join(s.tree, 'home', 'sub');
    fs.writeFileSync(join(sub, 'passwd'), 'mine\n');
    fs.chownSync(join(sub, 'passwd'), USER, USER);
    fs.chownSync(sub, USER, USER);
    const tx = transaction('update', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
    tx.add(snapshot({ path: s.tree, store: s.store }));
    tx.add(scribble({ path: join(sub, 'passwd') }));
    tx.add(failingStep({ message: 'fail' }));
    testHooks.point = (where) => {
      if (where !== 'restore' || fs.lstatSync(sub).isSymbolicLink()) return;
      fs.renameSync(sub, `${sub}.real`);
      fs.symlinkSync(s.victim, sub);
    };
    const victimBefore = victimState(s.victim);
    const outcome = (await tx.run()) as RollbackFailedOutcome;
    expect(outcome.status).toBe('rollback-failed');
    // The swap comes after the restore rewrote the file in the directory it had open (moved now); the
    // directory's own mtime is then refused (a symlink is there), or the verification of the path fails.
    expect(['SNAPSHOT_UNSAFE_TREE', 'RESTORE_NOT_VERIFIED']).toContain(outcome.undoError.code);
    expect(victimState(s.victim)).toEqual(victimBefore);
    expect(fs.readFileSync(join(`${sub}.real`, 'passwd'), 'utf8')).toBe('mine\n');
  });
});

describe('a FIFO swapped in for a scanned file', () => {
  it('fails a snapshot at once with a typed error, never blocks in open()', async () => {
    const s = sandbox();
    fs.writeFileSync(join(s.tree, 'a'), 'a\n');
    fs.writeFileSync(join(s.tree, 'z'), 'z\n');
    const started = Date.now();
    const outcome = await runChild(join(import.meta.dirname, 'fixtures', 'fifo-swap-child.ts'), [s.tree, s.store], { killAfterMs: 15_000 });
    expect(outcome.signal, 'the snapshot blocked (killed after 15 s)').toBeNull();
    expect(outcome.code, outcome.stderr).toBe(3);
    expect(outcome.stderr).toMatch(/^SNAPSHOT_UNSUPPORTED_ENTRY: .*\/z is now a FIFO, where a regular file was scanned/m);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(fs.readdirSync(s.store).filter((n) => n.endsWith('.partial'))).toEqual([]);
  }, 30_000);
});
