import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { afterEach, describe, expect, it } from 'vitest';
import { NonRetryableError, defineStep } from '@unwind/core';
import { failingStep, testKinds, treeState } from '@unwind/core/testing';
import { LOCK, MANIFEST, checkLock, parseDoc } from '../src/format.js';
import { RELEASE_INDEX, recoverUpdate, update, type UpdateOptions } from '../src/update.js';
import { cannotChattr, cannotMount, chattr, makeSandbox, mountTmpfs, type Sandbox } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function sandbox(): Sandbox {
  const s = makeSandbox();
  cleanups.push(s.remove);
  return s;
}

const options = (s: Sandbox, extra: Partial<UpdateOptions> = {}): UpdateOptions => ({
  collectionDir: s.collection,
  source: s.source,
  journalRoot: s.journalRoot,
  workspaceRoot: s.workspaceRoot,
  handleSignals: false,
  ...extra,
});
const read = (s: Sandbox, name: string) => fs.readFileSync(join(s.collection, name), 'utf8');

/** snapshot, fetch, ensureDir, 3 copies, manifest, lock, lock check. */
const STEPS = 9;

/** A test step that changes the collection behind the other steps' backs, then fails: only the snapshot can undo it. */
const scribble = defineStep({
  type: 'exampletest.scribble',
  args: t.type({ dir: t.string }),
  before: t.null,
  describe: (a) => `scribble in ${a.dir}, then fail`,
  prepare: async () => null,
  do: async (a): Promise<void> => {
    fs.writeFileSync(join(a.dir, 'stray.tmp'), 'left by a half-finished merge\n');
    fs.appendFileSync(join(a.dir, 'skills', 'notes.md'), 'merged line\n');
    fs.chmodSync(join(a.dir, 'agents', 'triage.md'), 0o666);
    throw new NonRetryableError(new Error('merge failed half-way'));
  },
  undo: async () => {},
});

describe('collection update: clean runs', () => {
  it('commits: new versions and bytes in place, manifest and lock rewritten, the lock matches the disk, no workspace left', async () => {
    const s = sandbox();
    const before = s.state();
    const result = await update(options(s));
    expect(result.status, result.message).toBe('committed');
    expect(result.outcome?.steps).toHaveLength(STEPS);
    expect(checkLock(s.collection)).toEqual([]);
    const manifest = parseDoc(read(s, MANIFEST), MANIFEST);
    expect(manifest.version).toBe('1.1.0');
    expect(manifest.artifacts.map((a) => `${a.name}@${a.version}`)).toEqual(['skills/review.md@1.1.0', 'skills/notes.md@1.0.0', 'commands/deploy.sh@1.2.0', 'agents/triage.md@1.0.0', 'agents/helper/agent.md@1.0.0']);
    const release = parseDoc(fs.readFileSync(join(s.source, RELEASE_INDEX), 'utf8'), RELEASE_INDEX);
    const lock = parseDoc(read(s, LOCK), LOCK);
    for (const a of release.artifacts) {
      expect(read(s, a.name)).toBe(fs.readFileSync(join(s.source, a.name), 'utf8'));
      expect(lock.artifacts.find((l) => l.name === a.name)?.sha256).toBe(a.sha256);
    }
    // Untouched artifacts are byte-for-byte as before; an updated executable keeps its mode.
    const after = s.state();
    for (const name of ['skills/notes.md', 'agents/triage.md']) expect(after.find((e) => e.path === name)).toEqual(before.find((e) => e.path === name));
    expect(after.find((e) => e.path === 'commands/deploy.sh')?.mode).toBe(0o755);
    expect(fs.readdirSync(s.workspaceRoot)).toEqual([]);
    expect(result.message).toContain('Done: all 9 steps applied and verified.');
    expect(result.message).toContain('Updated team-skills from 1.0.0 to 1.1.0');
    // Again: nothing to do.
    const again = await update(options(s));
    expect(again.status).toBe('up-to-date');
  });

  it('a dry run says what it would do and touches nothing', async () => {
    const s = sandbox();
    const before = treeState(s.base);
    const result = await update(options(s, { dryRun: true }));
    expect(result.status).toBe('planned');
    expect(result.message).toContain('copy in commands/deploy.sh 1.0.0 -> 1.2.0');
    expect(treeState(s.base)).toEqual(before);
  });

  it('refuses a collection whose lock already does not hold, touching nothing', async () => {
    const s = sandbox();
    fs.appendFileSync(join(s.collection, 'skills', 'notes.md'), 'edited by hand\n');
    const before = treeState(s.base);
    const result = await update(options(s));
    expect(result.status).toBe('refused');
    expect(result.message).toContain('skills/notes.md does not match its locked sha256');
    expect(treeState(s.base)).toEqual(before);
  });
});

describe('collection update: a failure anywhere restores the whole collection', () => {
  it(`a failure injected after each of the ${STEPS} steps: restored from the snapshot, byte-for-byte; lock holds; workspace gone`, async () => {
    for (let n = 1; n <= STEPS; n++) {
      const s = sandbox();
      const before = s.state();
      const result = await update(options(s, { inject: [{ afterStep: n, step: failingStep({ message: `injected after step ${n}` }) }], extraKinds: testKinds }));
      expect(result.status, `after step ${n}: ${result.message}`).toBe('rolled-back');
      expect(s.state(), `failure after step ${n}`).toEqual(before);
      expect(checkLock(s.collection)).toEqual([]);
      expect(fs.readdirSync(s.workspaceRoot), `workspace after step ${n}`).toEqual([]);
      expect(result.message).toContain(`failed: fail on purpose (injected after step ${n})`);
      expect(result.message).toMatch(/Rolled back \d+ steps?, newest first/);
      expect(result.message).toContain('restored from the pre-update snapshot and verified against its SHA-256 hashes');
      expect(result.message).toContain('exactly as before (version 1.0.0)');
    }
  });

  it('changes no step knows about (a stray file, an edited artifact, a mode) are undone by the snapshot', async () => {
    const s = sandbox();
    const before = s.state();
    const result = await update(options(s, { inject: [{ afterStep: 7, step: scribble({ dir: s.collection }) }] }));
    expect(result.status, result.message).toBe('rolled-back');
    expect(s.state()).toEqual(before);
    expect(result.message).toContain('merge failed half-way');
  });

  it('fetch fails (an artifact does not match the release index): nothing in the collection changed', async () => {
    const s = sandbox();
    const before = s.state();
    fs.appendFileSync(join(s.source, 'commands', 'deploy.sh'), 'tampered\n');
    const result = await update(options(s));
    expect(result.status).toBe('rolled-back');
    expect(result.outcome?.steps[1]?.error?.message).toContain('commands/deploy.sh from');
    expect(result.message).toMatch(/Step 2 of 9 failed: fetch .*is corrupt: sha256/);
    expect(s.state()).toEqual(before);
    expect(fs.readdirSync(s.workspaceRoot)).toEqual([]);
  });

  it('fetch fails (the release lacks a file): refused in prepare, the collection untouched', async () => {
    const s = sandbox();
    const before = s.state();
    fs.rmSync(join(s.source, 'agents', 'helper', 'agent.md'));
    const result = await update(options(s));
    expect(result.status).toBe('rolled-back');
    expect(result.message).toContain('has no file agents/helper/agent.md');
    expect(s.state()).toEqual(before);
    expect(fs.readdirSync(s.workspaceRoot)).toEqual([]);
  });

  const noChattr = cannotChattr();
  if (noChattr) console.warn(`skipping the real EPERM tests: ${noChattr}`);
  for (const [what, file, step] of [
    ['copying an artifact in', 'commands/deploy.sh', 5],
    ['writing the manifest', MANIFEST, 7],
    ['writing the lock', LOCK, 8],
  ] as const) {
    it.skipIf(noChattr)(`a real failure while ${what} (${file} immutable: EPERM) restores everything`, async () => {
      const s = sandbox();
      const before = s.state();
      chattr('+i', join(s.collection, file));
      cleanups.push(() => chattr('-i', join(s.collection, file)));
      const result = await update(options(s));
      expect(result.status, result.message).toBe('rolled-back');
      expect(result.outcome?.steps[step - 1]?.error?.message).toMatch(/EPERM|not permitted/);
      expect(result.message).toContain(`Step ${step} of 9 failed`);
      expect(s.state()).toEqual(before);
      expect(checkLock(s.collection)).toEqual([]);
      expect(fs.readdirSync(s.workspaceRoot)).toEqual([]);
    });
  }

  it('a snapshot whose stored bytes were damaged is not restored from: the rollback stops and says how to finish', async () => {
    const s = sandbox();
    const store = join(s.base, 'snapshots');
    const original = fs.readFileSync(join(s.collection, 'skills', 'notes.md'));
    const damage = defineStep({
      type: 'exampletest.damageSnapshot',
      args: t.type({ store: t.string }),
      before: t.null,
      describe: () => 'damage the snapshot, then fail',
      prepare: async () => null,
      do: async (a): Promise<void> => {
        const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
        const copies = walk(a.store).filter((p) => fs.readFileSync(p).equals(original));
        expect(copies.length).toBeGreaterThan(0);
        for (const p of copies) fs.writeFileSync(p, 'bit rot\n');
        // A change only the snapshot can undo, so the restore needs exactly the damaged copy.
        fs.appendFileSync(join(s.collection, 'skills', 'notes.md'), 'merged line\n');
        throw new NonRetryableError(new Error('failed after the snapshot was damaged'));
      },
      undo: async () => {},
    });
    const result = await update(options(s, { snapshotStore: store, recoverCommand: 'collection recover', inject: [{ afterStep: 8, step: damage({ store }) }]}));
    expect(result.status, result.message).toBe('rollback-failed');
    expect(result.exitCode).toBe(2);
    expect(result.message).toContain('The rollback could not finish: undoing step 1 (snapshot');
    expect(result.message).toMatch(/corrupt|does not match/i);
    expect(result.message).toContain('then run: collection recover');
    // The workspace is gone anyway.
    expect(fs.readdirSync(s.workspaceRoot)).toEqual([]);
  }, 30_000);
});

describe('collection update: no snapshot, no update', () => {
  it('refuses when the pre-update snapshot cannot be made; nothing changes', async () => {
    const s = sandbox();
    const notADir = join(s.base, 'not-a-directory');
    fs.writeFileSync(notADir, '');
    const before = treeState(s.base);
    const result = await update(options(s, { snapshotStore: notADir }));
    expect(result.status).toBe('refused');
    expect(result.exitCode).toBe(4);
    expect(result.message).toContain(`Update refused: the pre-update snapshot of ${s.collection} could not be made`);
    expect(result.message).toContain('an update without a way back is not run');
    expect(result.message).toContain('--force-without-snapshot');
    // Only the journal root may differ (it records the refused attempt).
    const ignoreJournal = (e: { path: string }) => !e.path.startsWith('var');
    expect(treeState(s.base).filter(ignoreJournal)).toEqual(before.filter(ignoreJournal));
  });

  it('--force-without-snapshot updates anyway and says so loudly', async () => {
    const s = sandbox();
    const notADir = join(s.base, 'not-a-directory');
    fs.writeFileSync(notADir, '');
    const warnings: string[] = [];
    const result = await update(options(s, { snapshotStore: notADir, forceWithoutSnapshot: true, warn: (w) => warnings.push(w) }));
    expect(result.status, result.message).toBe('committed');
    expect(result.withoutSnapshot).toBe(true);
    expect(warnings.join('\n')).toContain('WARNING: updating WITHOUT A SNAPSHOT because --force-without-snapshot was given.');
    expect(result.message).toContain('WARNING: updating WITHOUT A SNAPSHOT');
    expect(result.outcome?.steps.some((x) => x.type === 'snapshots.snapshot')).toBe(false);
    expect(checkLock(s.collection)).toEqual([]);
  });

  it('--force-without-snapshot and a later failure: every step is still undone, the collection is as before', async () => {
    const s = sandbox();
    const notADir = join(s.base, 'not-a-directory');
    fs.writeFileSync(notADir, '');
    const before = s.state();
    const result = await update(options(s, { snapshotStore: notADir, forceWithoutSnapshot: true, inject: [{ afterStep: 7, step: failingStep({ message: 'late' }) }], extraKinds: testKinds }));
    expect(result.status).toBe('rolled-back');
    expect(s.state()).toEqual(before);
    expect(result.message).toContain('rolled back step by step (no snapshot)');
    expect(fs.readdirSync(s.workspaceRoot)).toEqual([]);
  });

  const noMount = cannotMount();
  if (noMount) console.warn(`skipping the ENOSPC snapshot test: ${noMount}`);
  it.skipIf(noMount)('a snapshot store that is full (ENOSPC on a 1 MiB tmpfs) means refusal', async () => {
    const s = sandbox();
    fs.writeFileSync(join(s.collection, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 1));
    // Not in the lock: make it part of the collection properly is not needed; it only has to be snapshotted.
    const store = join(s.base, 'full');
    fs.mkdirSync(store);
    cleanups.push(mountTmpfs(store, '1m'));
    const before = s.state();
    const result = await update(options(s, { snapshotStore: store }));
    expect(result.status, result.message).toBe('refused');
    expect(result.message).toMatch(/could not be made: .*(ENOSPC|no space)/i);
    expect(s.state()).toEqual(before);
    expect(fs.readdirSync(store)).toEqual([]);
  });
});

describe('collection update: recovery', () => {
  it('recoverUpdate() with nothing to do changes nothing', async () => {
    const s = sandbox();
    const before = s.state();
    const report = await recoverUpdate({ journalRoot: s.journalRoot });
    expect(report.ok).toBe(true);
    expect(s.state()).toEqual(before);
  });
});
