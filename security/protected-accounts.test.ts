import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryJournal, recover, transaction, type AnyStepKind, type Step } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';
import { addToGroup, ensureGroup, ensureUser, kinds as usersKinds, removeFromGroup, removeUser } from '@unwind/users';
import { accountsSandbox, craftJournal, DENY, GROUPS, machineHashes, prng, USERS, type AccountsSandbox, type CraftedStep } from './accounts-sandbox.js';

// The protected-account rules, fuzzed through every route that reaches
// useradd/usermod/userdel/groupdel or an edit of the database files: the
// step kinds' do, undo and commit through run(), and recovery of crafted
// journals with valid checksums. The REAL shadow tools run against a -P
// prefix root; after every case the lines of root, the static and dynamic
// system accounts, UID_MIN-1, the deny-listed account, nobody (and their
// groups, and the privileged groups) must be byte-identical, the decoy
// untouched, and the machine's own database and login logs unchanged.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStep = Step<any, any, any>;
const kinds: AnyStepKind[] = [...usersKinds];
const rng = prng('protected-accounts');
const CASES = Number(process.env.UNWIND_FUZZ_CASES ?? 200);

let machine: Record<string, string>;
beforeAll(() => {
  machine = machineHashes();
});
afterAll(() => {
  expect(machineHashes()).toEqual(machine);
});

/** Targets: every protected account, the pre-existing ones, and new names. */
const userNames = [...USERS.map((u) => u.name), 'fresh', 'newbie'];
const groupNames = [...GROUPS.map((g) => g.name), 'freshgroup'];
const shells = ['/bin/sh', '/bin/bash', '/bin/false', undefined];
const uids = [0, 1, 2, 100, 998, 999, 1000, 1500, 1501, 4242, 65534, undefined];

function entry(name: string) {
  return USERS.find((u) => u.name === name);
}

function randomRunStep(sb: AccountsSandbox): { step: AnyStep; what: string } {
  const common = { prefix: sb.root, protect: DENY };
  const user = rng.pick(userNames);
  const group = rng.pick(groupNames);
  const shell = rng.pick(shells);
  const uid = rng.pick(uids);
  switch (rng.pick(['removeUser', 'ensureUser', 'ensureGroup', 'addToGroup', 'removeFromGroup'] as const)) {
    case 'removeUser':
      return { step: removeUser({ ...common, name: user, removeHome: rng.chance(0.7), stopProcesses: false, lingerDir: sb.lingerDir }), what: `removeUser ${user}` };
    case 'ensureUser':
      return {
        step: ensureUser({ ...common, name: user, ...(shell ? { shell } : {}), ...(uid !== undefined && rng.chance(0.3) ? { uid } : {}), ...(rng.chance(0.3) ? { system: true } : {}), ...(rng.chance(0.3) ? { groups: [rng.pick(groupNames)] } : {}), ...(rng.chance(0.2) ? { comment: 'changed' } : {}) }),
        what: `ensureUser ${user} shell=${shell}`,
      };
    case 'ensureGroup':
      return { step: ensureGroup({ ...common, name: group, ...(rng.chance(0.3) ? { system: true } : {}) }), what: `ensureGroup ${group}` };
    case 'addToGroup':
      return { step: addToGroup({ ...common, user, group }), what: `addToGroup ${user} ${group}` };
    case 'removeFromGroup':
      return { step: removeFromGroup({ ...common, user, group }), what: `removeFromGroup ${user} ${group}` };
  }
}

/** A crafted step claiming something about a target: that a step created it, changed it, removed it, or its membership. */
function randomCraftedStep(sb: AccountsSandbox, target: string): { step: CraftedStep; what: string; exactForgery: boolean; mayChange?: boolean } {
  const common = { prefix: sb.root, protect: DENY };
  const u = entry(target);
  const uid = u?.uid ?? rng.pick([0, 1, 999, 1501, 4242]);
  const gid = u?.gid ?? uid;
  const home = u?.home ?? `/home/${target}`;
  const pick = <T>(real: T, other: T) => (rng.chance(0.6) ? real : other);
  switch (rng.pick(['ensureUser-created', 'ensureUser-changed', 'ensureGroup-created', 'addToGroup', 'removeFromGroup', 'removeUser'] as const)) {
    case 'ensureUser-created': {
      // Claims to have created the account. For a pre-existing normal account at least one field
      // differs from the live entry (an exact forgery of an unprotected account is the documented limit; see docs/security.md).
      const comment = pick<string | undefined>(u?.comment, 'someone else');
      const args = { ...common, name: target, ...(rng.chance(0.5) ? { system: true } : {}), ...(rng.chance(0.5) ? { uid } : {}), ...(comment !== undefined ? { comment } : {}), ...(rng.chance(0.5) ? { shell: pick('/bin/sh', '/bin/zsh') } : {}) };
      const claimHome = pick(home, '/home');
      const before = { existed: false, user: null, groups: [], home: claimHome, homeExisted: rng.chance(0.3), sameNameGroup: rng.chance(0.5) };
      const after = rng.chance(0.7) ? { uid: pick(uid, 4243), gid: pick(gid, 4243), home: claimHome, created: true } : undefined;
      // The exact forgery: every field the undo cross-checks matches the live entry, and a uid below UID_MIN comes with system: true or as the step's own uid.
      const exact = u !== undefined && comment === u.comment && claimHome === home && (!after || (after.uid === uid && after.gid === gid)) && (args.shell === undefined || args.shell === '/bin/sh') && (uid >= 1000 || args.system === true || (args as { uid?: number }).uid === uid);
      return { step: { type: 'users.ensureUser', args, before, ...(after ? { after } : {}) }, what: `ensureUser claims it created ${target}${exact ? ' (exact forgery)' : ''}`, exactForgery: exact };
    }
    case 'ensureUser-changed': {
      const args = { ...common, name: target, shell: '/bin/sh', comment: 'set by the step' };
      const before = { existed: true, user: { name: target, uid, gid, comment: 'old', home, shell: '/bin/bash' }, groups: [], home, homeExisted: true };
      return { step: { type: 'users.ensureUser', args, before, after: { uid, gid, home, created: false } }, what: `ensureUser claims it changed ${target}`, exactForgery: false, mayChange: true };
    }
    case 'ensureGroup-created': {
      const group = rng.pick(groupNames);
      const real = GROUPS.find((g) => g.name === group)?.gid ?? 4300;
      const args = { ...common, name: group, ...(rng.chance(0.5) ? { system: true } : {}), ...(rng.chance(0.5) ? { gid: real } : {}) };
      return { step: { type: 'users.ensureGroup', args, before: { existed: false }, ...(rng.chance(0.7) ? { after: { gid: pick(real, 4301), created: true } } : {}) }, what: `ensureGroup claims it created ${group}`, exactForgery: false };
    }
    case 'addToGroup':
    case 'removeFromGroup': {
      const group = rng.pick(groupNames);
      const add = rng.chance(0.5);
      return { step: { type: add ? 'users.addToGroup' : 'users.removeFromGroup', args: { ...common, user: target, group }, before: { wasMember: !add } }, what: `${add ? 'addToGroup' : 'removeFromGroup'} ${target} ${group}`, exactForgery: false, mayChange: true };
    }
    case 'removeUser': {
      // Claims to have removed an account: recovery would bring it back (uid 0 "toor", a duplicate of root, a home elsewhere).
      const name = rng.pick([target, 'toor', 'fresh']);
      const claimUid = rng.pick([0, 1, uid, 4244]);
      const user = { name, uid: claimUid, gid: claimUid, comment: '', home: rng.pick([`/home/${name}`, '/home', '/', '/home/../etc']), shell: '/bin/sh' };
      const stagingParent = rng.pick(['/home', '/etc', '/']);
      const before = {
        existed: true,
        user,
        primaryGroup: { name, gid: claimUid },
        home: rng.chance(0.5) ? { path: `${sb.root}${user.home}`, staging: `${sb.root}${stagingParent}/.unwind-home-${name}-0123456789ab` } : null,
        linger: { path: `${sb.lingerDir}/${name}`, existed: rng.chance(0.5) ? { mode: rng.pick([0o644, 0o4755]), uid: 0, gid: 0 } : null },
        lines: [
          { file: 'passwd', key: name, lines: [`${name}:x:${claimUid}:${claimUid}::${user.home}:/bin/sh`], prev: 'root', next: null, index: 1 },
          { file: 'shadow', key: name, lines: [`${name}::1:0:99999:7:::`], prev: 'root', next: null, index: 1 },
          { file: 'group', key: 'sudo', lines: ['sudo:x:27:carol,' + name], prev: null, next: null, index: 4 },
        ],
      };
      return { step: { type: 'users.removeUser', args: { ...common, name, lingerDir: sb.lingerDir }, before }, what: `removeUser claims it removed ${name} (uid ${claimUid}, home ${user.home})`, exactForgery: false };
    }
  }
}

function uidZeroAccounts(sb: AccountsSandbox): string[] {
  return [...USERS.map((u): string => u.name), 'toor', 'fresh', 'newbie']
    .filter((n) => sb.line('passwd', n)?.split(':')[2] === '0');
}

describe('protected accounts, fuzzed through every route: 0 breaches', () => {
  it(`run(): do, undo and commit of every users kind, ${CASES} random cases (seed ${rng.seed})`, async () => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < CASES; i++) {
      const sb = accountsSandbox();
      try {
        // A real step may change (and delete) carol, dave and the new accounts; nothing else.
        const normal = ['carol', 'dave', 'fresh', 'newbie'];
        const guarded = sb.guarded(normal);
        const everything = sb.guarded();
        const { step, what } = randomRunStep(sb);
        const fail = rng.chance(0.5);
        const tx = transaction('fuzz', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
        tx.add(step);
        if (fail) tx.add(failingStep({ message: 'force the undo' }));
        const outcome = await tx.run();
        seen[outcome.status] = (seen[outcome.status] ?? 0) + 1;
        const label = `case ${i} (seed ${rng.seed}): ${what}${fail ? ' + a failing step' : ''} → ${outcome.status}`;
        expect(sb.guarded(normal), label).toEqual(guarded);
        expect(uidZeroAccounts(sb), label).toEqual(['root']);
        // A rolled-back run leaves the pre-existing accounts byte for byte too.
        if (outcome.status === 'rolled-back' || outcome.status === 'refused') expect(sb.guarded(), label).toEqual(everything);
      } finally {
        sb.cleanup();
      }
    }
    console.log('run() outcomes:', seen);
  }, 600_000);

  it(`recover(): crafted journals with valid checksums, ${CASES} random cases (seed ${rng.seed})`, async () => {
    const seen: Record<string, number> = {};
    let forgeries = 0;
    for (let i = 0; i < CASES; i++) {
      const sb = accountsSandbox();
      try {
        const target = rng.pick(userNames);
        const crafted = randomCraftedStep(sb, target);
        // Everything is guarded, except the target of an exact forgery of its own creation (the documented limit).
        const except = crafted.exactForgery || (crafted.mayChange && ['carol', 'dave', 'fresh', 'newbie'].includes(target)) ? [target] : [];
        if (crafted.exactForgery && !['root', 'daemon', 'bin', 'guarded', 'nobody'].includes(target)) forgeries++;
        const guarded = sb.guarded(except);
        const commitPoint = crafted.step.type === 'users.removeUser' && rng.chance(0.5);
        craftJournal(sb.journal, [crafted.step], { commitPoint });
        const report = await recover({ root: sb.journal, kinds });
        const result = report.transactions[0]!.result;
        seen[result] = (seen[result] ?? 0) + 1;
        const label = `case ${i} (seed ${rng.seed}): ${crafted.what}${commitPoint ? ' past the commit point' : ''} → ${result} ${report.transactions[0]!.error?.message ?? ''}`;
        expect(sb.guarded(except), label).toEqual(guarded);
        expect(uidZeroAccounts(sb), label).toEqual(['root']);
      } finally {
        sb.cleanup();
      }
    }
    console.log('recover() results:', seen, `exact forgeries of a pre-existing unprotected account (not guarded): ${forgeries}`);
  }, 600_000);

  it('the named cases the fuzz draws from, each once: root, daemon, nobody, UID_MIN-1, deny-listed, pre-existing', async () => {
    const cases: Array<[string, (sb: AccountsSandbox) => CraftedStep]> = [
      ['ensureUser says it created root', (sb) => ({ type: 'users.ensureUser', args: { name: 'root', prefix: sb.root, system: true, uid: 0, comment: 'root' }, before: { existed: false, user: null, groups: [], home: '/root', homeExisted: false }, after: { uid: 0, gid: 0, home: '/root', created: true } })],
      ['ensureUser says it created daemon', (sb) => ({ type: 'users.ensureUser', args: { name: 'daemon', prefix: sb.root, system: true, uid: 1, comment: 'daemon', shell: '/bin/sh' }, before: { existed: false, user: null, groups: [], home: '/usr/sbin', homeExisted: true }, after: { uid: 1, gid: 1, home: '/usr/sbin', created: true } })],
      ['ensureUser says it created nobody', (sb) => ({ type: 'users.ensureUser', args: { name: 'nobody', prefix: sb.root, system: true, uid: 65534, comment: 'nobody', shell: '/bin/sh' }, before: { existed: false, user: null, groups: [], home: '/nonexistent', homeExisted: true }, after: { uid: 65534, gid: 65534, home: '/nonexistent', created: true } })],
      ['ensureUser says it created edge (UID_MIN-1)', (sb) => ({ type: 'users.ensureUser', args: { name: 'edge', prefix: sb.root, comment: 'UID_MIN-1', shell: '/bin/sh' }, before: { existed: false, user: null, groups: [], home: '/home/edge', homeExisted: false }, after: { uid: 999, gid: 999, home: '/home/edge', created: true } })],
      ['ensureUser says it created the deny-listed guarded', (sb) => ({ type: 'users.ensureUser', args: { name: 'guarded', prefix: sb.root, protect: DENY, comment: 'deny-listed', shell: '/bin/sh' }, before: { existed: false, user: null, groups: [], home: '/home/guarded', homeExisted: false }, after: { uid: 1500, gid: 1500, home: '/home/guarded', created: true } })],
      ['ensureUser says it created carol, with the wrong home', (sb) => ({ type: 'users.ensureUser', args: { name: 'carol', prefix: sb.root, comment: 'Carol', shell: '/bin/sh' }, before: { existed: false, user: null, groups: [], home: '/home/carol2', homeExisted: false }, after: { uid: 1501, gid: 1501, home: '/home/carol2', created: true } })],
      ['ensureGroup says it created the root group', (sb) => ({ type: 'users.ensureGroup', args: { name: 'root', prefix: sb.root, system: true, gid: 0 }, before: { existed: false }, after: { gid: 0, created: true } })],
      ['ensureGroup says it created svc (a system group in the dynamic range that has a member of that gid)', (sb) => ({ type: 'users.ensureGroup', args: { name: 'svc', prefix: sb.root, system: true }, before: { existed: false }, after: { gid: 998, created: true } })],
      ['addToGroup says it added carol to sudo', (sb) => ({ type: 'users.addToGroup', args: { user: 'carol', group: 'sudo', prefix: sb.root }, before: { wasMember: false } })],
      ['removeFromGroup says it took dave out of sudo', (sb) => ({ type: 'users.removeFromGroup', args: { user: 'dave', group: 'sudo', prefix: sb.root }, before: { wasMember: true } })],
      ['removeUser says it removed toor (uid 0)', (sb) => ({ type: 'users.removeUser', args: { name: 'toor', prefix: sb.root }, before: { existed: true, user: { name: 'toor', uid: 0, gid: 0, comment: '', home: '/root', shell: '/bin/sh' }, primaryGroup: null, home: null, linger: { path: `${sb.root}/var/lib/systemd/linger/toor`, existed: null }, lines: [{ file: 'passwd', key: 'toor', lines: ['toor:x:0:0::/root:/bin/sh'], prev: 'root', next: null, index: 1 }] } })],
    ];
    for (const [what, make] of cases) {
      const sb = accountsSandbox();
      try {
        const guarded = sb.guarded();
        craftJournal(sb.journal, [make(sb)]);
        const report = await recover({ root: sb.journal, kinds });
        const t = report.transactions[0]!;
        expect(t.result, `${what}: ${t.error?.message}`).not.toBe('rolled-back');
        expect(['UNTRUSTED_JOURNAL', 'PROTECTED_USER', 'UNDO_CONFLICT'], `${what}: ${t.error?.code} ${t.error?.message}`).toContain(t.error?.code ?? t.steps[0]?.undo?.error?.code);
        expect(sb.guarded(), what).toEqual(guarded);
      } finally {
        sb.cleanup();
      }
    }
  }, 120_000);
});
