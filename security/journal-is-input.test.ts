import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeLine, exitCodeOf, fileJournal, JOURNAL_FORMAT, recover, transaction, type JournalRecordBody } from '@unwind/core';
import { noopStep, testKinds, treeState, workspaceRoot } from '@unwind/core/testing';

// Class 1: the journal is input, not truth. A journal root others can write is
// refused before anything is read; a crafted journal (valid checksums, made
// with the journal's own encodeLine) is refused or cannot reach outside its
// transaction; the production CLI never knows the test kinds, which would
// delete whatever path a journal names. Every case hashes the whole sandbox
// (journal root included) and a decoy file outside it, before and after.

const BIN = join(workspaceRoot(import.meta.dirname), 'packages/cli/dist/bin.js');
const ID = '20261203T101500000Z-crafted-abc123';

interface Sandbox {
  base: string;
  root: string;
  /** The file a crafted journal aims at. */
  decoy: string;
  state: () => unknown;
}

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function sandbox(): Sandbox {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-sec-journal-'));
  const decoyDir = fs.mkdtempSync(join(tmpdir(), 'unwind-sec-decoy-'));
  cleanups.push(() => fs.rmSync(base, { recursive: true, force: true }), () => fs.rmSync(decoyDir, { recursive: true, force: true }));
  const decoy = join(decoyDir, 'precious');
  fs.writeFileSync(decoy, 'do not delete\n');
  const root = join(base, 'journal');
  fs.mkdirSync(root, { mode: 0o700 });
  return { base, root, decoy, state: () => ({ sandbox: treeState(base), decoy: treeState(decoyDir) }) };
}

/** Writes a journal with valid checksums: what anyone who can write the root could plant. */
function plant(root: string, id: string, bodies: JournalRecordBody[], options: { beginId?: string } = {}): string {
  const dir = join(root, id);
  fs.mkdirSync(dir, { mode: 0o700 });
  const begin: JournalRecordBody = { kind: 'begin', format: JOURNAL_FORMAT, id: options.beginId ?? id, name: 'crafted', pid: 1, host: hostname() };
  const lines = [begin, ...bodies].map((body, i) => encodeLine({ ...body, seq: i + 1, at: Date.now() } as Parameters<typeof encodeLine>[0]));
  fs.writeFileSync(join(dir, 'journal.jsonl'), lines.join(''), { mode: 0o600 });
  return dir;
}

/** A test.writeMarker step that "created" `path`: its undo removes whatever is there. */
function markerCreated(path: string, before: unknown = { existed: false }): JournalRecordBody[] {
  return [
    { kind: 'prepared', step: 0, type: 'test.writeMarker', package: '@unwind/core/testing', description: `write ${path}`, args: { path, content: 'x' }, before },
    { kind: 'done', step: 0, after: { bytes: 1 }, attempts: 1 },
  ];
}

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('a journal root only the running user can write', () => {
  const unsafe: Array<[string, (s: Sandbox) => string, RegExp]> = [
    [
      'a symlink to a directory holding a planted journal',
      (s) => {
        const elsewhere = join(s.base, 'elsewhere');
        fs.mkdirSync(elsewhere, { mode: 0o700 });
        plant(elsewhere, ID, markerCreated(s.decoy));
        fs.symlinkSync(elsewhere, join(s.base, 'link'));
        return join(s.base, 'link');
      },
      /is a symlink/,
    ],
    [
      'owned by an unprivileged user (uid 65534)',
      (s) => {
        plant(s.root, ID, markerCreated(s.decoy));
        fs.chownSync(s.root, 65534, 65534);
        return s.root;
      },
      /owned by uid 65534, not by the running user/,
    ],
    [
      'group-writable',
      (s) => {
        plant(s.root, ID, markerCreated(s.decoy));
        fs.chmodSync(s.root, 0o770);
        return s.root;
      },
      /writable by group or others/,
    ],
    [
      'world-writable',
      (s) => {
        plant(s.root, ID, markerCreated(s.decoy));
        fs.chmodSync(s.root, 0o777);
        return s.root;
      },
      /writable by group or others/,
    ],
    [
      'below a parent others can write (no sticky bit)',
      (s) => {
        plant(s.root, ID, markerCreated(s.decoy));
        fs.chmodSync(s.base, 0o777);
        return s.root;
      },
      /ancestor .* writable by group or others/,
    ],
  ];

  for (const [name, make, reason] of unsafe) {
    it(`${name}: unwind recover exits 4, recover() and tx.run() refuse with UNSAFE_DIRECTORY; nothing touched`, async () => {
      const s = sandbox();
      const root = make(s);
      const before = s.state();

      const r = cli(['recover', '--kinds', join(workspaceRoot(import.meta.dirname), 'packages/cli/test/fixtures/test-kinds.mjs'), '--root', root]);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(reason);

      const report = await recover({ root, kinds: testKinds });
      expect(report.refused?.code).toBe('UNSAFE_DIRECTORY');
      expect(report.transactions).toEqual([]);

      const tx = transaction('on an unsafe root', { journal: fileJournal({ root }), handleSignals: false });
      tx.add(noopStep({}));
      const outcome = await tx.run();
      expect(outcome.status).toBe('refused');
      expect(outcome.status === 'refused' && outcome.cause.code).toBe('UNSAFE_DIRECTORY');
      expect(exitCodeOf(outcome)).toBe(4);

      expect(s.state()).toEqual(before);
      expect(fs.readFileSync(s.decoy, 'utf8')).toBe('do not delete\n');
    });
  }

  it('a transaction directory swapped for a symlink is never followed, listed or acted on', async () => {
    const s = sandbox();
    const elsewhere = join(s.base, 'elsewhere');
    fs.mkdirSync(elsewhere, { mode: 0o700 });
    plant(elsewhere, ID, markerCreated(s.decoy));
    fs.symlinkSync(join(elsewhere, ID), join(s.root, ID));
    const before = s.state();
    const all = await recover({ root: s.root, kinds: testKinds });
    expect(all.transactions).toEqual([]); // a symlink is not a transaction directory
    const one = await recover({ root: s.root, kinds: testKinds, transactionId: ID });
    expect(one.transactions[0]?.result).toBe('error');
    expect(one.transactions[0]?.error?.code).toBe('UNSAFE_DIRECTORY');
    expect(s.state()).toEqual(before);
  });
});

describe('crafted journals with valid checksums', () => {
  it('a test-kind step through the production CLI: unknown step type, exit 4, the decoy survives', () => {
    const s = sandbox();
    plant(s.root, ID, markerCreated(s.decoy));
    const before = s.state();
    const r = cli(['recover', '--root', s.root]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('step type "test.writeMarker" is unknown here');
    const json = JSON.parse(cli(['recover', '--root', s.root, '--json']).stdout);
    expect(json.kinds.sources.map((x: { from: string }) => x.from)).not.toContain('@unwind/core/testing');
    expect(s.state()).toEqual(before);
  });

  it('a begin record naming another transaction id (or a path) than its directory: refused before anything acts', async () => {
    for (const beginId of ['20261203T101500000Z-other-def456', '../../../etc', '']) {
      const s = sandbox();
      plant(s.root, ID, markerCreated(s.decoy), { beginId });
      const before = s.state();
      const report = await recover({ root: s.root, kinds: testKinds });
      expect(report.transactions[0]?.result, beginId).toBe('error');
      expect(report.transactions[0]?.error?.code).toBe('UNTRUSTED_JOURNAL');
      expect(s.state()).toEqual(before);
    }
  });

  it('a step index that is not a small non-negative integer (it names the blob directory): refused', async () => {
    for (const step of [-1, 1.5, '../../x', 1e21] as unknown[]) {
      const s = sandbox();
      const [prepared, done] = markerCreated(s.decoy);
      plant(s.root, ID, [{ ...prepared, step } as JournalRecordBody, { ...done, step } as JournalRecordBody]);
      const before = s.state();
      const report = await recover({ root: s.root, kinds: testKinds });
      expect(report.transactions[0]?.result, String(step)).toBe('error');
      expect(report.transactions[0]?.error?.code).toBe('UNTRUSTED_JOURNAL');
      expect(s.state()).toEqual(before);
    }
  });

  it('a blob name that leaves the transaction directory is never read: the undo fails, nothing is written', async () => {
    const s = sandbox();
    const secret = join(s.base, 'secret');
    fs.writeFileSync(secret, 'root-only secret\n', { mode: 0o600 });
    const target = join(s.base, 'target');
    fs.writeFileSync(target, 'current\n');
    for (const blob of ['../../../secret', '/etc/shadow', '.hidden', 'a/b']) {
      fs.rmSync(join(s.root, ID), { recursive: true, force: true });
      plant(s.root, ID, markerCreated(target, { existed: true, blob }));
      const before = s.state();
      const report = await recover({ root: s.root, kinds: testKinds });
      const result = report.transactions[0];
      expect(result?.result, blob).toBe('rollback-failed');
      expect(result?.error?.message).toMatch(/blob name .* must match/);
      expect(fs.readFileSync(target, 'utf8')).toBe('current\n');
      // Only recovery's own records were appended to the journal; nothing else changed.
      expect(treeState(s.base, { ignore: (p) => p === `journal/${ID}/journal.jsonl` })).toEqual((before as { sandbox: ReturnType<typeof treeState> }).sandbox.filter((e) => e.path !== `journal/${ID}/journal.jsonl`));
    }
  });

  it('a blob swapped for a symlink to a secret is never read through', async () => {
    const s = sandbox();
    const secret = join(s.base, 'secret');
    fs.writeFileSync(secret, 'root-only secret\n', { mode: 0o600 });
    const target = join(s.base, 'target');
    fs.writeFileSync(target, 'current\n');
    plant(s.root, ID, markerCreated(target, { existed: true, blob: 'before' }));
    fs.mkdirSync(join(s.root, ID, 'blobs', '0'), { recursive: true, mode: 0o700 });
    fs.symlinkSync(secret, join(s.root, ID, 'blobs', '0', 'before'));
    const report = await recover({ root: s.root, kinds: testKinds });
    expect(report.transactions[0]?.result).toBe('rollback-failed');
    expect(report.transactions[0]?.error?.message).toMatch(/ELOOP/);
    expect(fs.readFileSync(target, 'utf8')).toBe('current\n');
    expect(fs.readFileSync(secret, 'utf8')).toBe('root-only secret\n');
  });
});
