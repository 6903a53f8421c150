import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recover } from '@unwind/core';
import { kinds as systemdKinds } from '@unwind/systemd';
import { kinds as usersKinds } from '@unwind/users';
import { accountsSandbox, craftJournal, DENY, machineHashes, type AccountsSandbox, type CraftedStep } from './accounts-sandbox.js';

// Crafted journals (valid checksums, core's own encodeLine) for the users
// kinds: recovery refuses what no step of the kind could have written, or
// its undo finds the live entries are not what the step left — either way
// nothing outside what the journal's own step made is touched. Each case
// checks the protected and pre-existing accounts' lines and homes, the
// decoy file, the journal's claimed targets, and the machine's own files.

let machine: Record<string, string>;
beforeAll(() => {
  machine = machineHashes();
});
afterAll(() => {
  expect(machineHashes()).toEqual(machine);
});

let sb: AccountsSandbox | undefined;
afterEach(() => {
  sb?.cleanup();
  sb = undefined;
});

async function recoverCrafted(make: (s: AccountsSandbox) => CraftedStep, options: { commitPoint?: boolean } = {}) {
  sb = accountsSandbox();
  const s = sb;
  const guarded = s.guarded();
  const homes = fs.readdirSync(join(s.root, 'home')).sort();
  craftJournal(s.journal, [make(s)], options);
  const report = await recover({ root: s.journal, kinds: [...usersKinds, ...systemdKinds] });
  const t = report.transactions[0]!;
  expect(s.guarded(), `${t.result}: ${t.error?.message}`).toEqual(guarded);
  expect(fs.readdirSync(join(s.root, 'home')).sort()).toEqual(homes);
  return t;
}

const removed = (s: AccountsSandbox, user: { name: string; uid: number; home: string }, extra: Record<string, unknown> = {}) => ({
  existed: true,
  user: { name: user.name, uid: user.uid, gid: user.uid, comment: '', home: user.home, shell: '/bin/sh' },
  primaryGroup: null,
  home: null,
  linger: { path: join(s.lingerDir, user.name), existed: null },
  lines: [{ file: 'passwd', key: user.name, lines: [`${user.name}:x:${user.uid}:${user.uid}::${user.home}:/bin/sh`], prev: 'root', next: null, index: 1 }],
  ...extra,
});

describe('the journal is input: users kinds', () => {
  it('removeUser that would bring back a uid-0 "toor": refused before anything acts', async () => {
    const t = await recoverCrafted((s) => ({ type: 'users.removeUser', args: { name: 'toor', prefix: s.root }, before: removed(s, { name: 'toor', uid: 0, home: '/root' }) }));
    expect(t.result).toBe('error');
    expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
    expect(sb!.line('passwd', 'toor')).toBeUndefined();
  });

  it('removeUser whose captured passwd line is not the journaled account (uid 0 smuggled in the line): refused', async () => {
    const t = await recoverCrafted((s) => ({
      type: 'users.removeUser',
      args: { name: 'mallory', prefix: s.root },
      before: removed(s, { name: 'mallory', uid: 4500, home: '/home/mallory' }, { lines: [{ file: 'passwd', key: 'mallory', lines: ['mallory:x:0:0::/root:/bin/sh'], prev: 'root', next: null, index: 1 }] }),
    }));
    expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
    expect(sb!.line('passwd', 'mallory')).toBeUndefined();
  });

  it('removeUser that would put a re-created account into sudo: refused', async () => {
    const t = await recoverCrafted((s) => ({
      type: 'users.removeUser',
      args: { name: 'mallory', prefix: s.root },
      before: removed(s, { name: 'mallory', uid: 4500, home: '/home/mallory' }, { lines: [
        { file: 'passwd', key: 'mallory', lines: ['mallory:x:4500:4500::/home/mallory:/bin/sh'], prev: 'root', next: null, index: 1 },
        { file: 'group', key: 'sudo', lines: ['sudo:x:27:carol,mallory'], prev: null, next: null, index: 4 },
      ] }),
    }));
    expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
    expect(sb!.line('group', 'sudo')).toBe('sudo:x:27:carol');
  });

  it('removeUser past its commit point whose staging directory is the home base itself: the commit deletes nothing', async () => {
    const t = await recoverCrafted((s) => ({
      type: 'users.removeUser',
      args: { name: 'carol', prefix: s.root, protect: DENY },
      before: removed(s, { name: 'carol', uid: 1501, home: '/home/carol' }, { home: { path: join(s.root, 'home/carol'), staging: join(s.root, 'home') } }),
      after: null,
    }), { commitPoint: true });
    expect(t.result).toBe('error');
    expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
  });

  it('removeUser whose staged home is outside the home base (/etc, /, a ".." path): refused', async () => {
    for (const home of ['/etc', '/', '/home/../etc', '/home']) {
      const t = await recoverCrafted((s) => ({
        type: 'users.removeUser',
        args: { name: 'fresh', prefix: s.root },
        before: removed(s, { name: 'fresh', uid: 4501, home }, { home: { path: `${s.root}${home}`, staging: `${s.root}/.unwind-home-fresh-0123456789ab` } }),
      }));
      expect(t.error?.code, home).toBe('UNTRUSTED_JOURNAL');
      sb!.cleanup();
      sb = undefined;
    }
  });

  it('removeUser whose linger file is elsewhere, or set-uid: refused', async () => {
    for (const linger of [{ path: '/etc/cron.d/fresh', existed: { mode: 0o644, uid: 0, gid: 0 } }, { path: '', existed: { mode: 0o4755, uid: 0, gid: 0 } }]) {
      const t = await recoverCrafted((s) => ({
        type: 'users.removeUser',
        args: { name: 'fresh', prefix: s.root, lingerDir: s.lingerDir },
        before: removed(s, { name: 'fresh', uid: 4501, home: '/home/fresh' }, { linger: { ...linger, path: linger.path || join(s.lingerDir, 'fresh') } }),
      }));
      expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
      expect(fs.existsSync(join(sb!.lingerDir, 'fresh'))).toBe(false);
      sb!.cleanup();
      sb = undefined;
    }
  });

  it('ensureUser that says it created carol, whose home it claims is /home: carol and /home stay', async () => {
    const t = await recoverCrafted((s) => ({
      type: 'users.ensureUser',
      args: { name: 'carol', prefix: s.root, comment: 'Carol' },
      before: { existed: false, user: null, groups: [], home: '/home', homeExisted: false },
    }));
    expect(t.result).toBe('rollback-failed');
    expect(t.error?.code).toBe('UNDO_CONFLICT');
  });

  it('ensureUser that says it created root, daemon or the deny-listed guarded: PROTECTED_USER, nothing touched', async () => {
    for (const [name, uid, home, comment] of [['root', 0, '/root', 'root'], ['daemon', 1, '/usr/sbin', 'daemon'], ['guarded', 1500, '/home/guarded', 'deny-listed']] as const) {
      const t = await recoverCrafted((s) => ({
        type: 'users.ensureUser',
        args: { name, prefix: s.root, protect: DENY, system: true, uid, comment, shell: '/bin/sh' },
        before: { existed: false, user: null, groups: [], home, homeExisted: false },
        after: { uid, gid: uid, home, created: true },
      }));
      expect(t.result, name).toBe('rollback-failed');
      expect(t.error?.code, name).toBe('PROTECTED_USER');
      sb!.cleanup();
      sb = undefined;
    }
  });

  it('ensureUser whose journal disagrees with itself (existed, yet created): refused', async () => {
    const t = await recoverCrafted((s) => ({
      type: 'users.ensureUser',
      args: { name: 'carol', prefix: s.root },
      before: { existed: true, user: { name: 'dave', uid: 1502, gid: 1502, comment: 'Dave', home: '/home/dave', shell: '/bin/sh' }, groups: [], home: '/home/dave', homeExisted: true },
      after: { uid: 1502, gid: 1502, home: '/home/dave', created: true },
    }));
    expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
  });

  it('addToGroup/removeFromGroup naming root, the root group or sudo: refused', async () => {
    for (const args of [{ user: 'root', group: 'users' }, { user: 'carol', group: 'root' }, { user: 'dave', group: 'sudo' }]) {
      for (const type of ['users.addToGroup', 'users.removeFromGroup']) {
        const t = await recoverCrafted((s) => ({ type, args: { ...args, prefix: s.root }, before: { wasMember: type === 'users.removeFromGroup' } }));
        expect(t.error?.code, `${type} ${JSON.stringify(args)}`).toBe('UNTRUSTED_JOURNAL');
        sb!.cleanup();
        sb = undefined;
      }
    }
  });
});

describe('the journal is input: systemd unit files', () => {
  const unit = '[Service]\nExecStart=/bin/true\n';
  const units = (s: AccountsSandbox) => join(s.root, 'units');

  it('installUnit whose journaled path is not <unitDir>/<unit> (a database file): refused, the file untouched', async () => {
    const t = await recoverCrafted((s) => {
      fs.mkdirSync(units(s));
      return { type: 'systemd.installUnit', args: { unit: 'app.service', content: unit, unitDir: units(s), reload: false }, before: { path: join(s.root, 'etc/passwd'), missing: [], previous: { kind: 'absent' } } };
    });
    expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
  });

  it('installUnit that would restore a set-uid file, or says it created /etc: refused', async () => {
    for (const before of [
      (s: AccountsSandbox) => ({ path: join(units(s), 'app.service'), missing: [], previous: { kind: 'file', mode: 0o4755, uid: 0, gid: 0, sha256: '0'.repeat(64) } }),
      (s: AccountsSandbox) => ({ path: join(units(s), 'app.service'), missing: [join(s.root, 'etc')], previous: { kind: 'absent' } }),
    ]) {
      const t = await recoverCrafted((s) => {
        fs.mkdirSync(units(s));
        return { type: 'systemd.installUnit', args: { unit: 'app.service', content: unit, unitDir: units(s), reload: false }, before: before(s) };
      });
      expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
      expect(fs.existsSync(join(sb!.root, 'etc/passwd'))).toBe(true);
      sb!.cleanup();
      sb = undefined;
    }
  });

  it('installUnit whose file an admin rewrote after the step: UNDO_CONFLICT naming the path, the admin file kept', async () => {
    const t = await recoverCrafted((s) => {
      fs.mkdirSync(units(s));
      fs.writeFileSync(join(units(s), 'app.service'), '[Service]\nExecStart=/bin/admins-choice\n');
      return { type: 'systemd.installUnit', args: { unit: 'app.service', content: unit, unitDir: units(s), reload: false }, before: { path: join(units(s), 'app.service'), missing: [], previous: { kind: 'absent' } } };
    });
    expect(t.result).toBe('rollback-failed');
    expect(t.error?.code).toBe('UNDO_CONFLICT');
    expect(t.error?.message).toContain(join(sb!.root, 'units/app.service'));
    expect(fs.readFileSync(join(sb!.root, 'units/app.service'), 'utf8')).toContain('admins-choice');
  });

  it('enable whose journaled unit directory is /etc: refused before systemctl runs', async () => {
    const t = await recoverCrafted(() => ({ type: 'systemd.enable', args: { unit: 'app.service' }, before: { state: { loadState: 'loaded', activeState: 'inactive', subState: 'dead', unitFileState: 'disabled' }, unitDir: '/etc', dirs: { missing: [], subdirs: [] } } }));
    expect(t.error?.code).toBe('UNTRUSTED_JOURNAL');
  });
});
