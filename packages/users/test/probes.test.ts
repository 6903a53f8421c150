import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { memoryJournal, transaction } from '@unwind/core';
import { ensureGroup, ensureUser, groupMembers, lookupGroup, lookupUser, removeUser, uidMin } from '../src/index.js';
import { faultyExec, freeUid, prefixRoot, skipReason, type PrefixRoot } from './helpers.js';

describe('probes on the machine: through getent (read-only)', () => {
  it('lookupUser / lookupGroup / groupMembers ask getent, not a file', async () => {
    const { exec, calls } = faultyExec();
    const root = await lookupUser('root', { exec });
    expect(root).toMatchObject({ name: 'root', uid: 0, gid: 0 });
    expect(calls).toEqual([['getent', 'passwd', 'root']]);
    expect(await lookupUser('no-such-user-xyz', { exec })).toBeUndefined();
    expect(await lookupGroup('root', { exec })).toMatchObject({ name: 'root', gid: 0 });
    expect(await groupMembers('no-such-group-xyz', { exec })).toBeUndefined();
    expect(calls.map((c) => c[0])).toEqual(['getent', 'getent', 'getent', 'getent']);
  });

  it('look-ups refuse bad names before running anything', async () => {
    const { exec, calls } = faultyExec();
    await expect(lookupUser('-x', { exec })).rejects.toThrow(/must not start with "-"/);
    await expect(lookupGroup('a b', { exec })).rejects.toThrow();
    expect(calls).toEqual([]);
  });
});

describe('probes and plan on a prefix root', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
  let p: PrefixRoot | undefined;
  afterEach(() => {
    p?.cleanup();
    p = undefined;
  });

  it('read PREFIX/etc (getent does not read a prefix); plan() tells what would change and touches nothing', async () => {
    p = prefixRoot();
    const uid = freeUid();
    p.sh('groupadd', 'managed');
    p.sh('useradd', '-M', '-u', String(uid), '-d', '/home/alice', 'alice');
    p.sh('usermod', '-a', '-G', 'managed', 'alice');
    const { exec, calls } = faultyExec();
    expect(await lookupUser('alice', { prefix: p.root, exec })).toMatchObject({ uid, home: '/home/alice' });
    expect(await lookupUser('alice', { exec })).toBeUndefined(); // the machine has no alice
    expect(await groupMembers('managed', { prefix: p.root })).toEqual(['alice']);
    expect(uidMin(p.root)).toBe(uidMin(undefined));
    const before = p.state();
    const tx = transaction('plan', { journal: memoryJournal(), exec });
    tx.add(ensureUser({ name: 'alice', prefix: p.root }));
    tx.add(ensureUser({ name: 'alice', prefix: p.root, shell: '/bin/zsh' }));
    tx.add(ensureGroup({ name: 'other', prefix: p.root }));
    tx.add(removeUser({ name: 'nobody-here', prefix: p.root, lingerDir: p.lingerDir }));
    const plan = await tx.plan();
    expect(plan.map((e) => e.wouldChange)).toEqual([false, true, true, false]);
    expect(p.state()).toEqual(before);
    expect(calls.filter((c) => c[0] !== 'getent')).toEqual([]);
  });
});
