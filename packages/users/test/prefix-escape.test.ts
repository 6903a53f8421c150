// A prefix root is someone else's image: a symlink in it may point at the
// machine's own files. Every path unwind reads, edits or removes must
// resolve inside the prefix's real path; one that leads out is refused at
// prepare, before anything is touched.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere, treeState } from '@unwind/core/testing';
import { addToGroup, ensureGroup, ensureUser, removeUser } from '../src/index.js';
import { type AnyStep, expectRefused, faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, type PrefixRoot, runSteps, skipReason } from './helpers.js';

beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
keepMachineDatabaseUnchanged();

/** Stands for the machine's own files: a directory outside the prefix. */
let outside: string | undefined;
let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
  if (outside) fs.rmSync(outside, { recursive: true, force: true });
  outside = undefined;
});

/** Refused with UNSAFE_PATH, no tool ran, and nothing outside the prefix changed. */
const refusedOutside = (step: AnyStep) => expectRefused(step, 'UNSAFE_PATH', { state: () => treeState(outside!) });

describe('paths of a prefix root resolve inside it', () => {

  it("removeUser on a prefix with a lingerDir of the machine's: refused, the machine's linger file of a same-named user left alone", async () => {
    p = prefixRoot();
    outside = fs.mkdtempSync(join(tmpdir(), 'unwind-users-outside-'));
    fs.chmodSync(outside, 0o755);
    p.sh('useradd', '-M', '-u', String(freeUid()), 'bob');
    fs.writeFileSync(join(outside, 'bob'), ''); // the machine's linger file of its own bob
    await refusedOutside(removeUser({ name: 'bob', prefix: p.root, lingerDir: outside }));
    expect(fs.existsSync(join(outside, 'bob'))).toBe(true);
    // Inside the prefix, named through it or through a symlink to it, it is used.
    const { machinePathInPrefix } = await import('../src/prefix.js');
    expect(machinePathInPrefix(p.root, join(p.root, 'var/lib/systemd/linger'))).toBe(join(p.root, 'var/lib/systemd/linger'));
    const viaLink = `${p.root}-link`;
    fs.symlinkSync(p.root, viaLink);
    try {
      expect(machinePathInPrefix(viaLink, join(p.root, 'var/lib/systemd/linger'))).toBe(join(viaLink, 'var/lib/systemd/linger'));
    } finally {
      fs.rmSync(viaLink);
    }
  });

  it('a regular file where the image has a directory is not taken for an escape, nor answered with a raw ENOTDIR', async () => {
    p = prefixRoot();
    const { inPrefix } = await import('../src/prefix.js');
    fs.writeFileSync(join(p.root, 'var/lib/systemd/linger-file'), '');
    expect(inPrefix(p.root, '/var/lib/systemd/linger-file/bob')).toBe(join(p.root, 'var/lib/systemd/linger-file/bob'));
    fs.symlinkSync('/etc', join(p.root, 'home/escape'));
    expect(() => inPrefix(p!.root, '/home/escape/passwd/x')).toThrow(/resolves to \/etc\/passwd\/x/);
  });
  it("home -> a directory outside: removeUser { removeHome } leaves the outside home alone", async () => {
    p = prefixRoot();
    outside = fs.mkdtempSync(join(tmpdir(), 'unwind-users-outside-'));
    const uid = freeUid();
    fs.mkdirSync(join(outside, 'bob'));
    fs.writeFileSync(join(outside, 'bob', 'precious'), 'data');
    fs.chownSync(join(outside, 'bob'), uid, uid);
    fs.rmSync(join(p.root, 'home'), { recursive: true });
    fs.symlinkSync(outside, join(p.root, 'home'));
    fs.appendFileSync(join(p.root, 'etc/passwd'), `evil:x:${uid}:${uid}::/home/bob:/bin/sh\n`);
    await refusedOutside(removeUser({ name: 'evil', prefix: p.root, removeHome: true, graceMs: 100 }));
    expect(fs.readFileSync(join(outside, 'bob', 'precious'), 'utf8')).toBe('data');
    // ensureUser would have useradd -m make the home out there.
    await refusedOutside(ensureUser({ name: 'newbie', uid: freeUid(), prefix: p.root }));
  });

  it('etc -> a directory outside: no step reads or edits through it', async () => {
    p = prefixRoot();
    outside = fs.mkdtempSync(join(tmpdir(), 'unwind-users-outside-'));
    fs.renameSync(join(p.root, 'etc'), join(outside, 'etc'));
    fs.symlinkSync(join(outside, 'etc'), join(p.root, 'etc'));
    await refusedOutside(ensureUser({ name: 'alice', uid: freeUid(), prefix: p.root }));
    await refusedOutside(ensureGroup({ name: 'managed', prefix: p.root }));
    await refusedOutside(removeUser({ name: 'alice', prefix: p.root }));
  });

  it('one database file -> outside (an absolute link, as in the image it was meant for)', async () => {
    p = prefixRoot();
    outside = fs.mkdtempSync(join(tmpdir(), 'unwind-users-outside-'));
    p.sh('useradd', '-M', '-u', String(freeUid()), 'alice');
    fs.renameSync(join(p.root, 'etc/group'), join(outside, 'group'));
    fs.symlinkSync(join(outside, 'group'), join(p.root, 'etc/group'));
    await refusedOutside(addToGroup({ user: 'alice', group: 'users', prefix: p.root }));
  });

  it("the image's skeleton and mail spool settings that lead out (SKEL=, MAIL_DIR, by '..' or a link): ensureUser refused before useradd runs", async () => {
    outside = fs.mkdtempSync(join(tmpdir(), 'unwind-users-outside-'));
    fs.writeFileSync(join(outside, 'secret'), 'root only\n', { mode: 0o600 });
    const up = '/..'.repeat(12) + outside;
    const defaults = (lines: string) => fs.writeFileSync(join(p!.root, 'etc/default/useradd'), lines);
    const cases: Array<[string, () => void]> = [
      ['SKEL by ..', () => defaults(`SKEL=${up}\n`)],
      ['SKEL by a link', () => {
        defaults('SKEL=/etc/skel\n');
        fs.rmSync(join(p!.root, 'etc/skel'), { recursive: true, force: true });
        fs.symlinkSync(outside!, join(p!.root, 'etc/skel'));
      }],
      ['MAIL_DIR by ..', () => {
        defaults('CREATE_MAIL_SPOOL=yes\n');
        fs.appendFileSync(join(p!.root, 'etc/login.defs'), `MAIL_DIR ${up}\n`);
      }],
      ['a default/useradd line useradd would read as two', () => defaults(`# ${'x'.repeat(1030)}SKEL=${up}\n`)],
      ['USRSKEL by ..', () => defaults(`USRSKEL=${up}\n`)],
      ['MAIL_DIR by a link', () => {
        defaults('CREATE_MAIL_SPOOL=yes\n');
        fs.appendFileSync(join(p!.root, 'etc/login.defs'), 'MAIL_DIR /var/spool/drop\n');
        fs.mkdirSync(join(p!.root, 'var/spool'), { recursive: true });
        fs.symlinkSync(outside!, join(p!.root, 'var/spool/drop'));
      }],
    ];
    for (const [what, arrange] of cases) {
      p = prefixRoot();
      fs.mkdirSync(join(p.root, 'etc/default'), { recursive: true });
      arrange();
      await expectRefused(ensureUser({ name: 'newbie', uid: freeUid(), prefix: p.root }), 'UNSAFE_PATH', { state: () => ({ outside: treeState(outside!), image: p!.state() }), message: /outside the prefix root/ }).catch((error: Error) => {
        throw new Error(`${what}: ${error.message}`);
      });
      p.cleanup();
      p = undefined;
    }
  });

  it("a new home gets the image's own skeleton, not the machine's, and the mailbox is made in the image", async () => {
    p = prefixRoot();
    fs.mkdirSync(join(p.root, 'etc/default'), { recursive: true });
    fs.writeFileSync(join(p.root, 'etc/default/useradd'), 'CREATE_MAIL_SPOOL=yes\n');
    fs.mkdirSync(join(p.root, 'etc/skel'), { recursive: true });
    fs.writeFileSync(join(p.root, 'etc/skel/.image-profile'), 'from the image\n');
    fs.mkdirSync(join(p.root, 'var/mail'), { recursive: true });
    const outcome = await runSteps('users prefix skeleton', [ensureUser({ name: 'newbie', uid: freeUid(), prefix: p.root })], faultyExec().exec);
    expect(outcome.status).toBe('committed');
    expect(fs.readFileSync(join(p.root, 'home/newbie/.image-profile'), 'utf8')).toBe('from the image\n');
    expect(fs.existsSync(join(p.root, 'var/mail/newbie'))).toBe(true);
  });

  it("a MAIL_DIR hidden from a line reader (a 1023-byte login.defs line, as shadow reads it) is never the one useradd uses: the spool judged is passed with -K", async () => {
    p = prefixRoot();
    outside = fs.mkdtempSync(join(tmpdir(), 'unwind-users-outside-'));
    fs.mkdirSync(join(p.root, 'etc/default'), { recursive: true });
    fs.writeFileSync(join(p.root, 'etc/default/useradd'), 'CREATE_MAIL_SPOOL=yes\n');
    fs.mkdirSync(join(p.root, 'var/mail'), { recursive: true });
    // shadow reads 1023 bytes at a time: the rest of this comment line is a MAIL_DIR line to it.
    const comment = `# ${'x'.repeat(1021)}`;
    fs.appendFileSync(join(p.root, 'etc/login.defs'), `MAIL_DIR /var/mail\n${comment}MAIL_DIR ${'/..'.repeat(12)}${outside}\n`);
    const outcome = await runSteps('users prefix hidden mail dir', [ensureUser({ name: 'newbie', uid: freeUid(), prefix: p.root })], faultyExec().exec);
    expect(outcome.status).toBe('committed');
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.existsSync(join(p.root, 'var/mail/newbie'))).toBe(true);
  });

  it('a symlink that stays inside the prefix is fine', async () => {
    p = prefixRoot();
    const uid = freeUid();
    fs.mkdirSync(join(p.root, 'srv'));
    fs.renameSync(join(p.root, 'home'), join(p.root, 'srv/home'));
    fs.symlinkSync('srv/home', join(p.root, 'home'));
    p.sh('useradd', '-m', '-u', String(uid), 'bob');
    expect(fs.existsSync(join(p.root, 'srv/home/bob'))).toBe(true);
    const outcome = await runSteps('users prefix escape', [removeUser({ name: 'bob', prefix: p.root, removeHome: true, graceMs: 100 })], faultyExec().exec);
    expect(outcome.status).toBe('committed');
    expect(fs.existsSync(join(p.root, 'srv/home/bob'))).toBe(false);
  });
});
