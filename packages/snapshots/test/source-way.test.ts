import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UnsafeTreeError, create, restore } from '@unwind/snapshots';
import { isRoot, tempDir } from './helpers.js';

// A snapshot reads its source as root. By path, a user who owns a directory above the source (her
// ~/.config, for a snapshot of ~/.config/app) could point it at root's (/root/.config) while the snapshot
// is taken: the store got root's files, and a restore (which walks safely) later wrote them, modes and
// all, into her tree. The source is reached the way a restore reaches it, and read through its descriptor.

const USER = 4242;
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** Her home (hers, with `.config/app/settings`), and root's own `.config/app/token` behind a 0700 directory. */
function sandbox() {
  const base = tempDir();
  cleanups.push(base.remove);
  fs.chmodSync(base.path, 0o755);
  const home = join(base.path, 'home-alice');
  const source = join(home, '.config', 'app');
  fs.mkdirSync(source, { recursive: true });
  fs.writeFileSync(join(source, 'settings'), 'hers\n');
  for (const p of [home, join(home, '.config'), source, join(source, 'settings')]) fs.chownSync(p, USER, USER);
  const rootHome = join(base.path, 'root-home');
  fs.mkdirSync(join(rootHome, '.config', 'app'), { recursive: true });
  fs.chmodSync(rootHome, 0o700);
  fs.writeFileSync(join(rootHome, '.config', 'app', 'token'), 'ROOT-ONLY-TOKEN\n', { mode: 0o644 });
  return { base: base.path, home, source, rootHome, store: join(base.path, 'store') };
}

const storedSnapshots = (store: string) => (fs.existsSync(store) ? fs.readdirSync(store).filter((n) => !n.startsWith('.')) : []);

describe.runIf(isRoot)('the way to a snapshot source', () => {
  it("a symlink of hers above the source is not followed: refused with a typed error, nothing stored, root's files never reach her tree", async () => {
    const s = sandbox();
    fs.renameSync(join(s.home, '.config'), join(s.home, '.config.real'));
    fs.symlinkSync(join(s.rootHome, '.config'), join(s.home, '.config'));
    fs.lchownSync(join(s.home, '.config'), USER, USER);

    const refusal = await create({ source: s.source, store: s.store }).catch((e: unknown) => e);

    expect(refusal).toBeInstanceOf(UnsafeTreeError);
    expect(refusal).toMatchObject({ code: 'SNAPSHOT_UNSAFE_TREE', context: { tree: s.source, doing: 'snapshot' }, message: expect.stringContaining('nothing was stored') });
    expect(storedSnapshots(s.store)).toEqual([]);
  });

  it('a directory of root in a directory of hers (she could have moved it there) is not read: an unsafe path transition', async () => {
    const s = sandbox();
    fs.renameSync(join(s.rootHome, '.config', 'app'), join(s.home, '.config', 'root-app'));
    const source = join(s.home, '.config', 'root-app');

    await expect(create({ source, store: s.store })).rejects.toMatchObject({
      code: 'SNAPSHOT_UNSAFE_TREE',
      message: expect.stringContaining(`directory ${source} (owned by uid 0) is in one owned by uid ${USER}: an unsafe path transition`),
    });
    expect(storedSnapshots(s.store)).toEqual([]);
  });

  it('her own tree, reached through her own directories, is snapshotted and restored', async () => {
    const s = sandbox();
    const snap = await create({ source: s.source, store: s.store });
    expect(snap.entries).toBe(2);
    fs.writeFileSync(join(s.source, 'settings'), 'changed\n');
    await restore({ store: s.store, id: snap.id });
    expect(fs.readFileSync(join(s.source, 'settings'), 'utf8')).toBe('hers\n');
    expect(fs.statSync(join(s.source, 'settings')).uid).toBe(USER);
  });
});
