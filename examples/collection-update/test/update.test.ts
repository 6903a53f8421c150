import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { afterEach, describe, expect, it } from 'vitest';
import { NonRetryableError, defineStep } from '@unwind/core';
import { failingStep, requireHere, testKinds, treeState } from '@unwind/core/testing';
import { checkLock } from '../src/check-lock.js';
import { contentHash } from '../src/content-hash.js';
import { LOCK, MANIFEST, readLock, readManifest } from '../src/format.js';
import { recoverUpdate, update, type UpdateOptions } from '../src/update.js';
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

const NOW = new Date('2025-11-15T10:00:00.000Z');
const STAMP = '2025-11-15T10:00:00.000000';
const options = (s: Sandbox, extra: Partial<UpdateOptions> = {}): UpdateOptions => ({
  collectionDir: s.collection,
  source: s.source,
  journalRoot: s.journalRoot,
  workspaceRoot: s.workspaceRoot,
  now: NOW,
  handleSignals: false,
  ...extra,
});
const read = (s: Sandbox, name: string) => fs.readFileSync(join(s.collection, name), 'utf8');
const SKILL = 'skills/canvas-design';
const COMMAND = 'commands/code-review.md';

/** snapshot, fetch, (set aside + rename in) × 2, manifest, lock, lock check. */
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
    fs.appendFileSync(join(a.dir, 'skills', 'pdf', 'SKILL.md'), 'merged line\n');
    fs.chmodSync(join(a.dir, 'agents', 'triage.md'), 0o666);
    throw new NonRetryableError(new Error('merge failed half-way'));
  },
  undo: async () => {},
});

describe('collection update: clean runs on a skillmeat collection', () => {
  it('commits: the directory skill and the command replaced, manifest and lock rewritten in the changed lines only, the lock holds, no workspace left', async () => {
    const s = sandbox();
    const before = s.state();
    const manifestBefore = read(s, MANIFEST);
    const lockBefore = read(s, LOCK);
    const untouched = ['agents/triage.md', 'skills/pdf/SKILL.md'].map((p) => fs.statSync(join(s.collection, p)));
    const result = await update(options(s));
    expect(result.status, result.message).toBe('committed');
    expect(result.outcome?.steps).toHaveLength(STEPS);
    expect(checkLock(s.collection)).toEqual([]);
    // The directory artifact is exactly the upstream's tree: a file added, one changed, one gone, modes kept.
    expect(treeState(join(s.collection, SKILL))).toEqual(treeState(join(s.source, 'canvas-design')));
    expect(fs.existsSync(join(s.collection, SKILL, 'templates', 'flyer.md'))).toBe(false);
    expect(fs.statSync(join(s.collection, SKILL, 'scripts', 'render.sh')).mode & 0o777).toBe(0o755);
    expect(read(s, COMMAND)).toBe(fs.readFileSync(join(s.source, COMMAND), 'utf8'));
    // collection.toml: only [collection].updated and the two artifacts' resolution lines changed; last_updated added.
    expect(read(s, MANIFEST)).toBe(
      manifestBefore
        .replace('updated = "2025-11-10T16:05:12.918344"', `updated = "${STAMP}"`)
        .replace('resolved_sha = "4f0d5a2c9b8e71d3a6c5e0f9b2d8a7c6e5f4a3b2"\nresolved_version = "v1.0.0"\ntags = [\n    "design",\n    "visual",\n]', `resolved_sha = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"\nresolved_version = "v1.1.0"\ntags = [\n    "design",\n    "visual",\n]\nlast_updated = "${STAMP}"`)
        .replace('resolved_sha = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"\nresolved_version = "v2.0.0"', `resolved_sha = "b2c3d4e5f60718293a4b5c6d7e8f901234567890"\nresolved_version = "v2.1.0"\nlast_updated = "${STAMP}"`),
    );
    // collection.lock: the two entries rewritten in skillmeat's key order, the others byte for byte.
    const skillHash = contentHash(join(s.source, 'canvas-design'));
    const commandHash = contentHash(join(s.source, COMMAND));
    expect(read(s, LOCK)).toBe(
      lockBefore
        .replace(/content_hash = "850d[0-9a-f]+"\nfetched = "[^"]+"/, `content_hash = "${skillHash}"\nfetched = "${STAMP}"`)
        .replace('resolved_sha = "4f0d5a2c9b8e71d3a6c5e0f9b2d8a7c6e5f4a3b2"\nresolved_version = "v1.0.0"', 'resolved_sha = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"\nresolved_version = "v1.1.0"')
        .replace(/content_hash = "ba45[0-9a-f]+"\nfetched = "[^"]+"/, `content_hash = "${commandHash}"\nfetched = "${STAMP}"`)
        .replace('resolved_sha = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"\nresolved_version = "v2.0.0"', 'resolved_sha = "b2c3d4e5f60718293a4b5c6d7e8f901234567890"\nresolved_version = "v2.1.0"'),
    );
    expect(readLock(read(s, LOCK), LOCK).get('canvas-design::skill')?.content_hash).toBe('3ce7857beb5a70d7dbe6e3f1c2d524ec96dec53b74d58a75492033246364309d');
    // Artifacts the update does not change are not touched at all (same inode, same mtime).
    const after = s.state();
    ['agents/triage.md', 'skills/pdf/SKILL.md'].forEach((p, i) => {
      const st = fs.statSync(join(s.collection, p));
      expect([st.ino, st.mtimeMs]).toEqual([untouched[i]!.ino, untouched[i]!.mtimeMs]);
      expect(after.find((e) => e.path === p)).toEqual(before.find((e) => e.path === p));
    });
    expect(fs.readdirSync(s.workspaceRoot)).toEqual([]);
    expect(result.message).toContain('Done: all 9 steps applied and verified.');
    expect(result.message).toContain('Updated default: canvas-design::skill v1.0.0 -> v1.1.0, code-review::command v2.0.0 -> v2.1.0.');
    // Again: nothing to do, and the two files are not even rewritten.
    const files = [MANIFEST, LOCK].map((p) => fs.statSync(join(s.collection, p)));
    const again = await update(options(s));
    expect(again.status).toBe('up-to-date');
    [MANIFEST, LOCK].forEach((p, i) => expect(fs.statSync(join(s.collection, p)).mtimeMs).toBe(files[i]!.mtimeMs));
    expect(readManifest(read(s, MANIFEST), MANIFEST).artifacts.find((a) => a.name === 'pdf')?.resolved_version).toBe('v1.3.0');
  });

  it('a dry run says what it would do and touches nothing', async () => {
    const s = sandbox();
    const before = treeState(s.base);
    const result = await update(options(s, { dryRun: true }));
    expect(result.status).toBe('planned');
    expect(result.message).toContain('put code-review::command v2.0.0 -> v2.1.0 in place at commands/code-review.md');
    expect(treeState(s.base)).toEqual(before);
  });

  it('refuses a collection modified behind its lock (skillmeat\'s local modification), touching nothing', async () => {
    const s = sandbox();
    fs.appendFileSync(join(s.collection, SKILL, 'SKILL.md'), 'edited by hand\n');
    const before = treeState(s.base);
    const result = await update(options(s));
    expect(result.status).toBe('refused');
    expect(result.exitCode).toBe(4);
    expect(result.message).toContain('canvas-design::skill: skills/canvas-design does not match its locked content_hash');
    expect(treeState(s.base)).toEqual(before);
  });

  it('refuses a manifest it cannot rewrite line by line (an artifact as an inline table), touching nothing', async () => {
    const s = sandbox();
    const text = read(s, MANIFEST).replace(
      '[[artifacts]]\nname = "code-review"\ntype = "command"\npath = "commands/code-review.md"\norigin = "github"\nadded = "2025-10-05T11:42:57.000821"\nupstream = "https://github.com/example-org/claude-commands/blob/main/code-review.md"\nversion_spec = "latest"\nresolved_sha = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"\nresolved_version = "v2.0.0"\n',
      '',
    ).replace('[collection]', 'artifacts = [{ name = "code-review", type = "command", path = "commands/code-review.md", origin = "github", added = "2025-10-05T11:42:57.000821", upstream = "https://github.com/example-org/claude-commands/blob/main/code-review.md", resolved_sha = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678" }]\n\n[collection]');
    fs.writeFileSync(join(s.collection, MANIFEST), text);
    const before = treeState(s.base);
    const result = await update(options(s));
    expect(result.status, result.message).toBe('refused');
    expect(result.message).toMatch(/Nothing was changed: .*collection\.toml/);
    expect(treeState(s.base)).toEqual(before);
  });

  it('refuses bad input before anything is touched: invalid TOML, an artifact path leaving the collection, an unknown type', async () => {
    for (const [from, to, expected] of [
      ['[collection]', '[collection', /not valid TOML/],
      ['path = "agents/triage.md"', 'path = "../../etc/passwd"', /not a valid artifact path/],
      ['type = "agent"', 'type = "plugin"', /unknown type "plugin"/],
    ] as const) {
      const s = sandbox();
      fs.writeFileSync(join(s.collection, MANIFEST), read(s, MANIFEST).replace(from, to));
      const before = treeState(s.base);
      const result = await update(options(s));
      expect(result.status, from).toBe('refused');
      expect(result.message).toMatch(expected);
      expect(treeState(s.base)).toEqual(before);
    }
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
      expect(result.message).toContain('it is exactly as before');
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

  it('fetch fails (the directory skill does not match the upstream index\'s content_hash): nothing in the collection changed', async () => {
    const s = sandbox();
    const before = s.state();
    fs.appendFileSync(join(s.source, 'canvas-design', 'templates', 'poster.md'), 'tampered\n');
    const result = await update(options(s));
    expect(result.status).toBe('rolled-back');
    expect(result.outcome?.steps[1]?.error?.message).toContain('canvas-design::skill from');
    expect(result.message).toMatch(/Step 2 of 9 failed: fetch .*is corrupt: content_hash/);
    expect(s.state()).toEqual(before);
    expect(fs.readdirSync(s.workspaceRoot)).toEqual([]);
  });

  it('fetch fails (the upstream directory lacks an artifact): the collection untouched', async () => {
    const s = sandbox();
    const before = s.state();
    fs.rmSync(join(s.source, COMMAND));
    const result = await update(options(s));
    expect(result.status).toBe('rolled-back');
    expect(result.message).toContain(`has no ${COMMAND}`);
    expect(s.state()).toEqual(before);
    expect(fs.readdirSync(s.workspaceRoot)).toEqual([]);
  });

  const noChattr = cannotChattr();
  for (const [what, file, step] of [
    ['setting the old command aside', COMMAND, 5],
    ['writing the manifest', MANIFEST, 7],
    ['writing the lock', LOCK, 8],
  ] as const) {
    it(`a real failure while ${what} (${file} immutable: EPERM) restores everything`, async () => {
      requireHere(noChattr, 'chattr +i (the immutable attribute)');
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
    const original = fs.readFileSync(join(s.collection, 'skills', 'pdf', 'SKILL.md'));
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
        fs.appendFileSync(join(s.collection, 'skills', 'pdf', 'SKILL.md'), 'merged line\n');
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
  it('a snapshot store that is full (ENOSPC on a 1 MiB tmpfs) means refusal', async () => {
    requireHere(noMount, 'mounting a tmpfs');
    const s = sandbox();
    // Not an artifact: it only has to be snapshotted.
    fs.writeFileSync(join(s.collection, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 1));
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
