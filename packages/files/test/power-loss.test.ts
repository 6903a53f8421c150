import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cannotMount, exploreCrashStates, exploreRecoveryCrashStates, mountTmpfs } from '@unwind/core/testing';

// Power loss, not SIGKILL: for each step kind, every state a power cut after
// any file-system operation could leave (only synced data and entries are sure
// to survive; see docs/power-loss.md) is recovered in a fresh process and must
// give the before-state or, once the commit point is durable, the after-state.
const kindsModule = join(import.meta.dirname, '..', 'src', 'index.ts');
const seed = Number(process.env.UNWIND_CRASH_SEED ?? 20261203);

function setup(tree: string): void {
  fs.mkdirSync(join(tree, 'etc'));
  fs.writeFileSync(join(tree, 'etc', 'a.conf'), 'old a\n', { mode: 0o640 });
  fs.writeFileSync(join(tree, 'etc', 'b.conf'), 'old b\n');
  fs.symlinkSync('b.conf', join(tree, 'etc', 'b.link'));
  fs.mkdirSync(join(tree, 'data', 'nested'), { recursive: true });
  fs.writeFileSync(join(tree, 'data', 'one'), 'one\n');
  fs.writeFileSync(join(tree, 'data', 'nested', 'two'), 'two\n', { mode: 0o600 });
  fs.linkSync(join(tree, 'data', 'one'), join(tree, 'data', 'nested', 'one.hardlink')); // a hard-link group
  fs.writeFileSync(join(tree, 'source.bin'), Buffer.alloc(5000, 7)); // more than one 4 KiB block
}

// Every kind journals the inode numbers of the directories it works in (and move, chmod, chown and
// remove those of the entries they change), and its undo acts only there: explored with the
// pre-existing inodes keeping their numbers, as a power cut keeps them.
const cases: Array<{ kind: string; steps: (tree: string) => Array<{ type: string; args: unknown }> }> = [
  { kind: 'files.writeFile', steps: (t) => [
    { type: 'files.writeFile', args: { path: join(t, 'etc', 'a.conf'), content: 'new a\n', mode: 0o600 } },
    { type: 'files.writeFile', args: { path: join(t, 'etc', 'new.conf'), content: 'x'.repeat(6000) } },
  ] },
  { kind: 'files.copy', steps: (t) => [{ type: 'files.copy', args: { source: join(t, 'source.bin'), path: join(t, 'etc', 'b.conf') } }] },
  { kind: 'files.ensureDir', steps: (t) => [
    { type: 'files.ensureDir', args: { path: join(t, 'var', 'lib', 'app'), mode: 0o750 } },
    { type: 'files.ensureDir', args: { path: join(t, 'data'), mode: 0o700 } },
  ] },
  { kind: 'files.chmod', steps: (t) => [{ type: 'files.chmod', args: { path: join(t, 'etc', 'b.conf'), mode: 0o600 } }] },
  { kind: 'files.chown', steps: (t) => [{ type: 'files.chown', args: { path: join(t, 'etc', 'b.conf'), uid: 4321, gid: 4321 } }] },
  { kind: 'files.symlink', steps: (t) => [
    { type: 'files.symlink', args: { path: join(t, 'etc', 'b.link'), target: 'a.conf' } },
    { type: 'files.symlink', args: { path: join(t, 'etc', 'c.link'), target: '../data' } },
  ] },
  { kind: 'files.move', steps: (t) => [
    { type: 'files.move', args: { from: join(t, 'etc', 'a.conf'), to: join(t, 'etc', 'moved.conf') } },
    { type: 'files.move', args: { from: join(t, 'data', 'nested'), to: join(t, 'etc', 'nested') } }, // a directory, to another directory
  ] },
  { kind: 'files.remove', steps: (t) => [{ type: 'files.remove', args: { paths: [join(t, 'data'), join(t, 'etc', 'b.link')] } }] },
];

describe('power loss: every @unwind/files kind under the crash-state explorer', () => {
  for (const c of cases) {
    for (const rollback of [false, true]) {
      it(`${c.kind}, ${rollback ? 'rolled back (undo explored)' : 'committed'}: 0 divergences`, async () => {
        const report = await exploreCrashStates({ name: `${c.kind}${rollback ? ', rolled back' : ''}`, kindsModule, setup, steps: c.steps, rollback, seed, keepInodeNumbers: true });
        expect(report.statesChecked).toBeGreaterThan(10);
        expect(report.divergences).toEqual([]);
      }, 300_000);
    }
  }

  it('a power cut during recover() of a transaction of every kind (rolling back, rolling forward), then recover() again — and a second cut during that recover(): 0 divergences', async () => {
    const reports = await exploreRecoveryCrashStates({
      name: 'every @unwind/files kind', kindsModule, setup, seed, keepInodeNumbers: true, statesPerPoint: 6, secondCuts: 3,
      // Each step on its own paths. Only the inodes that existed before the run keep their numbers here, and
      // only where the state puts them back directly (a real power cut keeps them all), so a moved entry and
      // every directory a step works in is one of those, and none of them is inside what a later step stages.
      steps: (t) => [
        { type: 'files.writeFile', args: { path: join(t, 'etc', 'new.conf'), content: 'x'.repeat(6000) } },
        { type: 'files.move', args: { from: join(t, 'etc', 'a.conf'), to: join(t, 'etc', 'moved.conf') } },
        { type: 'files.copy', args: { source: join(t, 'source.bin'), path: join(t, 'etc', 'b.conf') } },
        { type: 'files.ensureDir', args: { path: join(t, 'var', 'lib', 'app'), mode: 0o750 } },
        { type: 'files.chmod', args: { path: join(t, 'source.bin'), mode: 0o600 } },
        { type: 'files.chown', args: { path: join(t, 'source.bin'), uid: 4321, gid: 4321 } },
        { type: 'files.symlink', args: { path: join(t, 'etc', 'c.link'), target: 'moved.conf' } }, // a new link: a replaced one frees an inode the filesystem may give to a new file, which this explorer cannot tell apart
        { type: 'files.move', args: { from: join(t, 'data', 'nested'), to: join(t, 'etc', 'nested') } },
        { type: 'files.remove', args: { paths: [join(t, 'data', 'one')] } },
      ],
    });
    expect(reports.filter((r) => r.name.endsWith('then a second power cut during the next recover()'))).toHaveLength(2);
    for (const report of reports) {
      expect(report.statesChecked).toBeGreaterThan(20);
      expect(report.divergences).toEqual([]);
    }
  }, 900_000);
});

// files.remove with allowCopy, its paths on another filesystem than its staging directory: a tmpfs mounted
// in the sandbox, so do copies into the staging directory and deletes the original, undo copies back, and
// the explorer names inodes by device and number (they collide across the two filesystems).
describe('power loss: files.remove with allowCopy across two filesystems', () => {
  const unmounts = new Map<string, () => void>();
  const crossSetup = (tree: string) => {
    const noMount = cannotMount();
    if (noMount) throw new Error(`this test mounts a tmpfs in its sandbox (run it as root in a mount namespace: node scripts/test.mjs): ${noMount}`);
    fs.mkdirSync(join(tree, 'other'));
    unmounts.set(tree, mountTmpfs(join(tree, 'other'), '8m'));
    fs.mkdirSync(join(tree, 'other', 'data', 'sub'), { recursive: true });
    fs.writeFileSync(join(tree, 'other', 'data', 'a.txt'), 'alpha\n', { mode: 0o640 });
    fs.writeFileSync(join(tree, 'other', 'data', 'sub', 'b.bin'), Buffer.alloc(5000, 7));
    fs.symlinkSync('a.txt', join(tree, 'other', 'data', 'link'));
    fs.writeFileSync(join(tree, 'other', 'kept'), 'kept\n');
    fs.mkdirSync(join(tree, 'staging'), { mode: 0o700 });
    fs.writeFileSync(join(tree, 'near'), 'near\n'); // on the sandbox's own filesystem: its inode number may be one of the tmpfs's too
  };
  const teardown = (tree: string) => unmounts.get(tree)?.();
  const steps = (t: string) => [{ type: 'files.remove', args: { paths: [join(t, 'other', 'data')], stagingDir: join(t, 'staging'), allowCopy: true } }];
  for (const rollback of [false, true]) {
    it(`${rollback ? 'rolled back (copied back)' : 'committed (the copy deleted)'}: 0 divergences`, async () => {
      const report = await exploreCrashStates({ name: `files.remove with allowCopy across filesystems${rollback ? ', rolled back' : ''}`, kindsModule, setup: crossSetup, teardown, steps, rollback, seed });
      // The copy really crossed: a rename would be one operation per path, a copy writes the bytes.
      expect(report.trace.some((o) => o.op === 'write' && o.path.includes('/staging/'))).toBe(true);
      expect(report.statesChecked).toBeGreaterThan(10);
      expect(report.divergences).toEqual([]);
    }, 600_000);
  }
});
