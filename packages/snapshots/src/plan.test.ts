import { createHash } from 'node:crypto';
import { Volume } from 'memfs';
import { describe, expect, it } from 'vitest';
import { SnapshotCorruptError } from './errors.js';
import { MANIFEST_FORMAT, decodeManifest, encodeManifest, type Manifest, type ManifestEntry } from './manifest.js';
import { compareTree, planRestore, planSize } from './plan.js';
import { scanTree, type LiveEntry, type ScanFs } from './scan.js';

// Pure logic on an in-memory volume: scanning, manifest building, planning and comparing.

function volume() {
  const vol = Volume.fromJSON({
    '/t/a.conf': 'port = 80\n',
    '/t/sub/b.txt': 'bee\n',
    '/t/sub/deeper/c.txt': 'sea\n',
    '/t/other.txt': 'other\n',
  });
  vol.mkdirSync('/t/empty');
  vol.linkSync('/t/sub/b.txt', '/t/b-link.txt');
  vol.symlinkSync('a.conf', '/t/link');
  // Fixed times, so every later change shows as a different mtime, whatever the clock does.
  for (const p of ['/t', '/t/a.conf', '/t/sub', '/t/sub/b.txt', '/t/sub/deeper', '/t/sub/deeper/c.txt', '/t/other.txt', '/t/empty']) vol.utimesSync(p, 1_600_000_000, 1_600_000_000);
  return vol;
}

const scan = (vol: InstanceType<typeof Volume>, root = '/t') => scanTree(root, { fs: vol as unknown as ScanFs, hash: () => true });

/** What `create` would record for a scanned tree. */
function manifestOf(live: LiveEntry[]): ManifestEntry[] {
  const leaders = new Map<bigint, string>();
  let blob = 0;
  return live.map((e) => {
    const base = { path: e.path, mode: e.mode, uid: e.uid, gid: e.gid, mtimeNs: e.mtimeNs.toString() };
    if (e.type === 'dir') return { ...base, type: 'dir' as const };
    if (e.type === 'symlink') return { ...base, type: 'symlink' as const, target: e.target! };
    const leader = e.nlink > 1 ? leaders.get(e.ino) : undefined;
    if (leader) return { ...base, type: 'file' as const, size: e.size, sha256: e.sha256!, linkOf: leader };
    if (e.nlink > 1) leaders.set(e.ino, e.path);
    return { ...base, type: 'file' as const, size: e.size, sha256: e.sha256!, blob: String(blob++) };
  });
}

async function setup() {
  const vol = volume();
  const manifest = manifestOf(await scan(vol));
  return { vol, manifest, plan: async () => planRestore(manifest, await scan(vol)), compare: async () => compareTree(manifest, await scan(vol)) };
}

describe('scanTree (memfs)', () => {
  it('lists parents before children, names sorted, with hashes, link targets and inode numbers', async () => {
    const live = await scan(volume());
    expect(live.map((e) => e.path)).toEqual(['.', 'a.conf', 'b-link.txt', 'empty', 'link', 'other.txt', 'sub', 'sub/b.txt', 'sub/deeper', 'sub/deeper/c.txt']);
    const byPath = new Map(live.map((e) => [e.path, e]));
    expect(byPath.get('link')).toMatchObject({ type: 'symlink', target: 'a.conf' });
    expect(byPath.get('a.conf')?.sha256).toBe(createHash('sha256').update('port = 80\n').digest('hex'));
    expect(byPath.get('b-link.txt')?.ino).toBe(byPath.get('sub/b.txt')?.ino);
  });

  it('gives an empty list for a missing root', async () => {
    expect(await scan(volume(), '/missing')).toEqual([]);
  });
});

describe('planRestore (memfs)', () => {
  it('plans nothing for an unchanged tree', async () => {
    const s = await setup();
    expect(planSize(await s.plan())).toBe(0);
    expect(await s.compare()).toEqual([]);
  });

  it('rewrites only the changed file (same size too: found by hash) and resets its directory mtime', async () => {
    const s = await setup();
    s.vol.writeFileSync('/t/sub/deeper/c.txt', 'SEA\n');
    const plan = await s.plan();
    expect(plan.write).toEqual([{ path: 'sub/deeper/c.txt', blob: expect.any(String), fresh: false }]);
    expect(plan.remove).toEqual([]);
    expect(plan.meta).toEqual(['sub/deeper']);
    expect(await s.compare()).toEqual([expect.stringMatching(/^sub\/deeper\/c\.txt: mtime /), expect.stringMatching(/^sub\/deeper\/c\.txt: sha256 /)]);
  });

  it('removes extras top-most only, and recreates what is missing', async () => {
    const s = await setup();
    s.vol.mkdirSync('/t/extra/inner', { recursive: true });
    s.vol.writeFileSync('/t/extra/inner/x', 'x');
    s.vol.rmSync('/t/sub/deeper', { recursive: true });
    s.vol.rmdirSync('/t/empty');
    const plan = await s.plan();
    expect(plan.remove).toEqual([{ path: 'extra', type: 'dir' }]);
    expect(plan.mkdir).toEqual(['empty', 'sub/deeper']);
    expect(plan.write.map((w) => w.path)).toEqual(['sub/deeper/c.txt']);
    // created directories get their metadata, deepest first, after their contents
    expect(plan.meta).toEqual(['sub/deeper', 'empty', 'sub', '.']);
  });

  it('replaces an entry of the wrong type: removed first, then recreated', async () => {
    const s = await setup();
    s.vol.rmdirSync('/t/empty');
    s.vol.writeFileSync('/t/empty', 'now a file');
    s.vol.unlinkSync('/t/a.conf');
    s.vol.mkdirSync('/t/a.conf');
    const plan = await s.plan();
    expect(plan.remove).toEqual([{ path: 'a.conf', type: 'dir' }, { path: 'empty', type: 'file' }]);
    expect(plan.mkdir).toEqual(['empty']);
    expect(plan.write.map((w) => w.path)).toEqual(['a.conf']);
  });

  it('fixes a mode change with metadata only, no rewrite', async () => {
    const s = await setup();
    s.vol.chmodSync('/t/other.txt', 0o600);
    const plan = await s.plan();
    expect(plan.write).toEqual([]);
    expect(plan.meta).toEqual(['other.txt']);
  });

  it('re-links a hard link that was replaced by a copy with the same bytes', async () => {
    const s = await setup();
    s.vol.unlinkSync('/t/b-link.txt');
    s.vol.writeFileSync('/t/b-link.txt', 'bee\n');
    const plan = await s.plan();
    expect(plan.write).toEqual([]);
    // b-link.txt (first in walk order) leads the group; the member follows the leader's new inode.
    expect(plan.link).toEqual([{ path: 'sub/b.txt', to: 'b-link.txt', fresh: false }]);
    expect(await s.compare()).toContain('sub/b.txt: not a hard link of b-link.txt');
  });

  it('rewrites a group leader and re-links every member when the shared content changed', async () => {
    const s = await setup();
    s.vol.writeFileSync('/t/sub/b.txt', 'changed\n'); // same inode as b-link.txt
    const plan = await s.plan();
    expect(plan.write.map((w) => w.path)).toEqual(['b-link.txt']);
    expect(plan.link).toEqual([{ path: 'sub/b.txt', to: 'b-link.txt', fresh: false }]);
  });

  it('gives a file back its own inode when it was hard-linked to another after the snapshot', async () => {
    const s = await setup();
    s.vol.unlinkSync('/t/other.txt');
    s.vol.linkSync('/t/a.conf', '/t/other.txt');
    const plan = await s.plan();
    expect(plan.write.map((w) => w.path)).toEqual(['other.txt']);
    // a.conf keeps its inode: first claimant wins
    expect(plan.write.map((w) => w.path)).not.toContain('a.conf');
  });

  it('re-points a symlink and notices a symlink that became a file', async () => {
    const s = await setup();
    s.vol.unlinkSync('/t/link');
    s.vol.symlinkSync('other.txt', '/t/link');
    expect((await s.plan()).symlink).toEqual([{ path: 'link', target: 'a.conf', fresh: false }]);
    s.vol.unlinkSync('/t/link');
    s.vol.writeFileSync('/t/link', 'a.conf');
    const plan = await s.plan();
    expect(plan.remove).toEqual([{ path: 'link', type: 'file' }]);
    expect(plan.symlink).toEqual([{ path: 'link', target: 'a.conf', fresh: true }]); // removed first
  });

  it('rebuilds everything when the root is gone', async () => {
    const s = await setup();
    s.vol.rmSync('/t', { recursive: true });
    const plan = await s.plan();
    expect(plan.mkdir).toEqual(['.', 'empty', 'sub', 'sub/deeper']);
    expect(plan.write).toHaveLength(4);
    expect(plan.write.every((w) => w.fresh)).toBe(true);
    expect(plan.link).toHaveLength(1);
    expect(plan.symlink).toHaveLength(1);
  });

  it('puts back mtimes: a touched file needs metadata only', async () => {
    const s = await setup();
    s.vol.utimesSync('/t/other.txt', 1_700_000_000, 1_700_000_000);
    const plan = await s.plan();
    expect(plan.meta).toEqual(['other.txt']);
    expect(await s.compare()).toEqual([expect.stringMatching(/^other\.txt: mtime /)]);
  });
});

describe('compareTree', () => {
  it('names extra, missing, type, mode, size and target differences', async () => {
    const s = await setup();
    s.vol.writeFileSync('/t/extra', '');
    s.vol.unlinkSync('/t/other.txt');
    s.vol.chmodSync('/t/a.conf', 0o600);
    s.vol.writeFileSync('/t/sub/deeper/c.txt', 'longer content\n');
    s.vol.unlinkSync('/t/link');
    s.vol.symlinkSync('elsewhere', '/t/link');
    const differences = (await s.compare()).join('\n');
    expect(differences).toMatch(/^extra: extra file$/m);
    expect(differences).toMatch(/^other\.txt: missing file$/m);
    expect(differences).toMatch(/^a\.conf: mode 600, expected/m);
    expect(differences).toMatch(/^sub\/deeper\/c\.txt: size 15, expected 4$/m);
    expect(differences).toMatch(/^link: link target "elsewhere", expected "a\.conf"$/m);
  });
});

describe('manifest encoding', () => {
  const manifest: Manifest = { format: MANIFEST_FORMAT, id: '20261122T053012345Z-3f9a1c0d', source: '/t', createdAt: '2026-11-22T05:30:12.345Z', entries: [{ path: '.', type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, mtimeNs: '1600000000123456789' }] };

  it('round-trips', () => {
    expect(decodeManifest(encodeManifest(manifest), 'm')).toEqual(manifest);
  });

  it('refuses a manifest whose body was altered, even by one byte', () => {
    const text = encodeManifest(manifest).replace('"mode":493', '"mode":511');
    expect(() => decodeManifest(text, 'm')).toThrow(SnapshotCorruptError);
    expect(() => decodeManifest(text, 'm')).toThrow(/does not match its checksum/);
  });

  it('refuses a truncated or headerless manifest', () => {
    const text = encodeManifest(manifest);
    expect(() => decodeManifest(text.slice(0, text.length - 20), 'm')).toThrow(SnapshotCorruptError);
    expect(() => decodeManifest(text.split('\n')[1]!, 'm')).toThrow(/no valid header/);
  });

  it('reads both blob names it ever wrote (`ab/123`, and `123` of the first snapshots); refuses any other, so a manifest cannot point a restore outside data/', () => {
    const file = (blob: string): Manifest => ({ ...manifest, entries: [...manifest.entries, { path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '1', size: 1, sha256: 'x', blob }] });
    for (const good of ['7b/123', '00/0', '42']) expect(decodeManifest(encodeManifest(file(good)), 'm').entries[1]!.blob).toBe(good);
    for (const bad of ['../../etc/shadow', '/etc/shadow', '7b/../x', 'ab/12/3', 'AB/1', '']) {
      expect(() => decodeManifest(encodeManifest(file(bad)), 'm'), bad).toThrow(/malformed.*BlobName/);
    }
  });
});
