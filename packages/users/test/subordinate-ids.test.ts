// The subordinate id ranges removeUser captures and its undo writes back
// (/etc/subuid, /etc/subgid): a range that maps the machine's root is never
// written back, whoever asks (a caller's account at prepare, a forged journal
// at recovery), and a range given to another account since the removal
// stops the undo before it writes anything.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type JournalPlace } from '@unwind/core';
import { requireHere, testContext } from '@unwind/core/testing';
import { lookupUser, removeUser } from '../src/index.js';
import { overlappingRange, parseSubordinateRange, subordinateRangeProblem } from '../src/subordinate-ids.js';
import { expectRefused, faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, type PrefixRoot, skipReason } from './helpers.js';

keepMachineDatabaseUnchanged();

const place: JournalPlace = { root: '/nonexistent', transactionDirectory: '/nonexistent/t', transactionId: 't', stepIndex: 0 };

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

describe('the rules on a range', () => {
  it('a well-formed range above 0 may be put back; id 0, an empty range, one past the last id or a malformed line may not', () => {
    expect(parseSubordinateRange('alice:100000:65536')).toEqual({ name: 'alice', start: 100000, count: 65536 });
    expect(subordinateRangeProblem('alice:100000:65536')).toBeUndefined();
    expect(subordinateRangeProblem('alice:0:65536')).toMatch(/id 0/);
    expect(subordinateRangeProblem('alice:100000:0')).toMatch(/empty/);
    expect(subordinateRangeProblem('alice:4294967290:10')).toMatch(/past the last id/);
    for (const line of ['alice:100000', 'alice:-1:10', 'alice:1e5:10', 'alice:100000:65536:x', 'alice: 1:2']) expect(subordinateRangeProblem(line)).toMatch(/not name:start:count/);
  });

  it("an overlap is any shared id with another name's range; touching ranges and the name's own lines do not overlap", () => {
    const alice = parseSubordinateRange('alice:100000:65536')!;
    expect(overlappingRange(alice, ['bob:100000:65536'])).toBe('bob:100000:65536');
    expect(overlappingRange(alice, ['bob:165535:10'])).toBe('bob:165535:10');
    expect(overlappingRange(alice, ['bob:99999:2'])).toBe('bob:99999:2');
    expect(overlappingRange(alice, ['bob:165536:65536', 'carol:34464:65536', 'alice:100000:65536', 'junk'])).toBeUndefined();
  });
});

describe('removeUser and the subordinate ranges', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  function withRange(range: string): { root: PrefixRoot; uid: number } {
    const root = prefixRoot();
    const uid = freeUid();
    root.sh('useradd', '-M', '-u', String(uid), 'erin');
    // useradd may have given erin a range of its own: the one under test replaces it.
    for (const file of ['subuid', 'subgid']) {
      const path = join(root.root, 'etc', file);
      const now = fs.existsSync(path) ? fs.readFileSync(path, 'utf8') : '';
      fs.writeFileSync(path, `${now.replace(/^erin:.*\n/gm, '')}erin:${range}\n`);
    }
    return { root, uid };
  }

  it('an account whose range contains id 0 is refused at prepare, with nothing touched', async () => {
    p = withRange('0:65536').root;
    await expectRefused(removeUser({ name: 'erin', prefix: p.root, stopProcesses: false, lingerDir: p.lingerDir }), 'PROTECTED_USER', { state: p.state, message: /subuid range "erin:0:65536".*id 0/ });
  });

  it('recovery refuses a journal whose captured range contains id 0, or is not a range', async () => {
    const made = withRange('100000:65536');
    p = made.root;
    const { exec } = faultyExec();
    const { ctx, dispose } = testContext({ exec });
    try {
      const args = { name: 'erin', prefix: p.root, stopProcesses: false, lingerDir: p.lingerDir };
      const before = await removeUser.definition.prepare(args, ctx);
      expect(() => removeUser.definition.validateJournaled!(args, before, undefined, place)).not.toThrow();
      for (const forged of ['erin:0:65536', 'erin:100000:65536:0', 'erin:1:0']) {
        const lines = before.lines.map((c) => (c.file === 'subuid' ? { ...c, lines: [forged] } : c));
        expect(() => removeUser.definition.validateJournaled!(args, { ...before, lines }, undefined, place)).toThrow(/UNTRUSTED|subuid range/);
      }
    } finally {
      dispose();
    }
  });

  it("the undo stops, writing nothing, when the removed account's range was given to another account since", async () => {
    const made = withRange('100000:65536');
    p = made.root;
    const { exec } = faultyExec();
    const { ctx, dispose } = testContext({ exec });
    try {
      const args = { name: 'erin', prefix: p.root, stopProcesses: false, lingerDir: p.lingerDir };
      const before = await removeUser.definition.prepare(args, ctx);
      await removeUser.definition.do(args, before, ctx);
      expect(await lookupUser('erin', { prefix: p.root })).toBeUndefined();
      // The next account gets the lowest free range from useradd itself: erin's.
      p.sh('useradd', '-M', '-u', String(freeUid()), 'bob');
      for (const file of ['subuid', 'subgid']) expect(fs.readFileSync(join(p.root, 'etc', file), 'utf8')).toMatch(/^bob:100000:65536$/m);
      const state = p.state();
      await expect(removeUser.definition.undo(args, before, undefined, ctx)).rejects.toMatchObject({ code: 'UNDO_CONFLICT', message: expect.stringMatching(/subuid range erin:100000:65536.*bob:100000:65536/) });
      expect(p.state()).toEqual(state);

      // With the range free again, the undo puts erin back, range included.
      for (const file of ['subuid', 'subgid']) fs.writeFileSync(join(p.root, 'etc', file), fs.readFileSync(join(p.root, 'etc', file), 'utf8').replace(/^bob:.*\n/gm, ''));
      await removeUser.definition.undo(args, before, undefined, ctx);
      expect((await lookupUser('erin', { prefix: p.root }))?.uid).toBe(made.uid);
      expect(fs.readFileSync(join(p.root, 'etc/subuid'), 'utf8')).toContain('erin:100000:65536\n');
    } finally {
      dispose();
    }
  });
});
