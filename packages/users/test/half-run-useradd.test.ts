import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeLine, JOURNAL_FORMAT, recover, type JournalRecord, type JournalRecordBody } from '@unwind/core';
import { testContext } from '@unwind/core/testing';
import { ensureUser, kinds } from '../src/index.js';
import { freeUid, keepMachineDatabaseUnchanged, prefixRoot, type PrefixRoot } from './helpers.js';

// The process group is killed while `useradd -m` runs: it has made the
// home (owned by the uid it picked) and, depending on where it stopped,
// written the private group but not the passwd entry, leaving its lock and
// pid files beside the database. Recovery must undo exactly that — the
// empty home and the private group this step's useradd made, nothing that
// existed before — and a second recovery must succeed too. The state is
// built byte for byte as a killed useradd leaves it (the window is too
// short to hit reliably with a real kill), and the journal is the one the
// step writes before running useradd.

keepMachineDatabaseUnchanged();

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

/** Journals the step as prepared (its do never finished), as the runner does before do starts. */
async function journalPrepared(root: PrefixRoot, args: Record<string, unknown>): Promise<string> {
  const { ctx, dispose } = testContext();
  const before = await ensureUser.definition.prepare(args as never, ctx);
  dispose();
  const journal = join(root.root, 'journal');
  const id = '20261203T101010101Z-half-run-useradd-abcdef';
  fs.mkdirSync(join(journal, id), { recursive: true, mode: 0o700 });
  const bodies: JournalRecordBody[] = [
    { kind: 'begin', format: JOURNAL_FORMAT, id, name: 'half-run useradd', pid: 2 ** 22 + 3, host: 'test' },
    { kind: 'prepared', step: 0, type: ensureUser.type, package: '@unwind/users', description: 'ensure user cruser', args, before },
  ];
  fs.writeFileSync(join(journal, id, 'journal.jsonl'), bodies.map((b, i) => encodeLine({ ...b, seq: i + 1, at: Date.now() } as JournalRecord)).join(''));
  return journal;
}

/** What a useradd killed after making the home leaves: home (skel copied or not), maybe the private group, lock and pid files of a dead pid. */
function killedUseradd(root: PrefixRoot, uid: number, options: { groupWritten: boolean }): void {
  const home = join(root.root, 'home/cruser');
  fs.mkdirSync(home, { mode: 0o700 });
  fs.writeFileSync(join(home, '.profile'), '# from skel\n');
  fs.chownSync(join(home, '.profile'), uid, uid);
  fs.chownSync(home, uid, uid);
  if (options.groupWritten) {
    fs.appendFileSync(join(root.root, 'etc/group'), `cruser:x:${uid}:\n`);
    fs.appendFileSync(join(root.root, 'etc/gshadow'), 'cruser:!::\n');
  }
  const dead = 2 ** 22 + 7; // above pid_max's default: no such process
  for (const db of ['passwd', 'shadow', 'group', 'gshadow']) {
    fs.writeFileSync(join(root.root, `etc/${db}.${dead}`), String(dead));
    fs.linkSync(join(root.root, `etc/${db}.${dead}`), join(root.root, `etc/${db}.lock`));
  }
  fs.writeFileSync(join(root.root, 'etc/passwd+'), 'half written');
}

describe('a useradd -m killed half-way, then recover()', () => {
  for (const groupWritten of [false, true]) {
    it(`${groupWritten ? 'private group written, no passwd entry' : 'only the home made'}: the home and that group go, nothing else; the next useradd succeeds; a second recover succeeds`, async () => {
      p = prefixRoot();
      const uid = freeUid();
      // A same-named group that existed before would be kept: here there is none, and another group is there as a decoy.
      p.sh('groupadd', '-g', String(uid + 1), 'decoy');
      const before = p.state();
      const journal = await journalPrepared(p, { name: 'cruser', prefix: p.root });
      killedUseradd(p, uid, { groupWritten });
      const first = await recover({ root: journal, kinds });
      expect(first.transactions[0]?.result, JSON.stringify(first.transactions[0]?.error)).toBe('rolled-back');
      expect(p.state()).toEqual(before);
      expect(fs.existsSync(join(p.root, 'home/cruser'))).toBe(false);
      // The stale locks and pid files are gone; passwd+ is the shadow tools' own and rewritten by the next one.
      expect(fs.readdirSync(join(p.root, 'etc')).filter((n) => /\.(lock|\d+)$/.test(n))).toEqual([]);
      const second = await recover({ root: journal, kinds });
      expect(second.ok).toBe(true);
      expect(p.state()).toEqual(before);
      p.sh('useradd', '-l', '-m', '-u', String(uid), 'cruser');
      expect(fs.readFileSync(join(p.root, 'etc/passwd'), 'utf8')).toContain(`cruser:x:${uid}:`);
    });
  }

  it('a group named like the user that existed before is never removed, even with no passwd entry and the home made', async () => {
    p = prefixRoot();
    const uid = freeUid();
    p.sh('groupadd', '-g', String(uid), 'cruser');
    const before = p.state();
    const journal = await journalPrepared(p, { name: 'cruser', prefix: p.root });
    killedUseradd(p, uid, { groupWritten: false });
    const report = await recover({ root: journal, kinds });
    expect(report.transactions[0]?.result, JSON.stringify(report.transactions[0]?.error)).toBe('rolled-back');
    expect(p.state()).toEqual(before);
  });

  it('a home owned by an existing account is not removed: UNDO_CONFLICT, rollback-failed', async () => {
    p = prefixRoot();
    const uid = freeUid();
    p.sh('useradd', '-l', '-M', '-u', String(uid), 'other');
    const journal = await journalPrepared(p, { name: 'cruser', prefix: p.root });
    killedUseradd(p, uid, { groupWritten: false });
    const report = await recover({ root: journal, kinds });
    expect(report.transactions[0]?.result).toBe('rollback-failed');
    expect(report.transactions[0]?.error?.code).toBe('UNDO_CONFLICT');
    expect(fs.existsSync(join(p.root, 'home/cruser/.profile'))).toBe(true);
  });
});
