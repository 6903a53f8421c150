// Whose home a removal may reach: another account's home counts where it
// really leads (carol's /home/carol -> /home/bob/carol lies inside bob's
// home), and a home is moved aside or deleted only in a directory no one but
// root can change (bob's home /home/alice/bob would be staged in alice's).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { ensureUser, lookupUser, removeUser } from '../src/index.js';
import { expectRefused, faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, type PrefixRoot, runSteps, skipReason } from './helpers.js';

keepMachineDatabaseUnchanged();

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

/** Two different free uids. */
function twoUids(): [number, number] {
  const a = freeUid();
  let b = freeUid();
  while (b === a) b = freeUid();
  return [a, b];
}

/** A directory of the prefix root, owned by `uid`, with `mode`. */
function dir(root: PrefixRoot, path: string, uid: number, mode: number): string {
  const onDisk = join(root.root, path);
  fs.mkdirSync(onDisk, { recursive: true });
  fs.chownSync(onDisk, uid, uid);
  fs.chmodSync(onDisk, mode);
  return onDisk;
}

const removeBob = (root: PrefixRoot) => removeUser({ name: 'bob', prefix: root.root, removeHome: true, stopProcesses: false, lingerDir: root.lingerDir });

describe("another account's home counts where it really leads", () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  it("carol's home, a symlink into bob's home (relative, absolute in the image, or the machine's path of it): bob's home is not removed", async () => {
    p = prefixRoot();
    const [bob, carol] = twoUids();
    p.sh('useradd', '-m', '-u', String(bob), 'bob');
    p.sh('useradd', '-M', '-u', String(carol), '-d', '/home/carol', 'carol');
    const real = dir(p, 'home/bob/carol', carol, 0o700);
    fs.writeFileSync(join(real, 'thesis.tex'), "carol's only copy\n");
    const link = join(p.root, 'home/carol');
    for (const target of ['bob/carol', '/home/bob/carol', real]) {
      fs.rmSync(link, { force: true });
      fs.symlinkSync(target, link);
      await expectRefused(removeBob(p), 'UNSAFE_HOME', { state: p.state, message: /real home of "carol" \(\/home\/carol leads to .*\/home\/bob\/carol\)/ });
    }
    // carol's home is bob's home itself, through a link.
    fs.rmSync(link);
    fs.symlinkSync('bob', link);
    await expectRefused(removeBob(p), 'UNSAFE_HOME', { state: p.state, message: /is also the real home of "carol"/ });
    expect(fs.readFileSync(join(real, 'thesis.tex'), 'utf8')).toBe("carol's only copy\n");
  });

  it("carol's home a directory of bob's home whose name begins with two dots (..carol, .carol): bob's home is not removed", async () => {
    p = prefixRoot();
    const [bob, carol] = twoUids();
    p.sh('useradd', '-m', '-u', String(bob), 'bob');
    for (const name of ['..carol', '.carol', '...carol']) {
      const real = dir(p, `home/bob/${name}`, carol, 0o700);
      fs.writeFileSync(join(real, 'thesis.tex'), "carol's only copy\n");
      p.sh('useradd', '-M', '-u', String(carol), '-d', `/home/bob/${name}`, 'carol');
      await expectRefused(removeBob(p), 'UNSAFE_HOME', { state: p.state, message: new RegExp(`contains the home of "carol" \\(/home/bob/${name.replace(/\./g, '\\.')}\\)`) });
      expect(fs.readFileSync(join(real, 'thesis.tex'), 'utf8')).toBe("carol's only copy\n");
      p.sh('userdel', 'carol');
    }
  });

  it('a home that leads elsewhere, or nowhere (dangling), does not stop the removal: compared as written', async () => {
    p = prefixRoot();
    const [bob, carol] = twoUids();
    p.sh('useradd', '-m', '-u', String(bob), 'bob');
    p.sh('useradd', '-M', '-u', String(carol), '-d', '/home/carol', 'carol');
    dir(p, 'srv/carol', carol, 0o700);
    fs.symlinkSync('/srv/carol', join(p.root, 'home/carol'));
    p.sh('useradd', '-M', '-u', String(freeUid()), '-d', '/home/dan', 'dan');
    fs.symlinkSync('/nonexistent/dan', join(p.root, 'home/dan'));
    const { exec } = faultyExec();
    expect((await runSteps('users home boundaries', [removeBob(p)], exec)).status).toBe('committed');
    expect(fs.existsSync(join(p.root, 'home/bob'))).toBe(false);
    expect(fs.existsSync(join(p.root, 'srv/carol'))).toBe(true);
  });
});

describe('a home is moved aside or deleted only in a directory no one but root can change', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  it("bob's home inside alice's home: removeUser refuses, naming alice's directory, and stages nothing there", async () => {
    p = prefixRoot();
    const [alice, bob] = twoUids();
    p.sh('useradd', '-m', '-u', String(alice), 'alice');
    p.sh('useradd', '-M', '-u', String(bob), '-d', '/home/alice/bob', 'bob');
    dir(p, 'home/alice/bob', bob, 0o700);
    await expectRefused(removeBob(p), 'UNSAFE_HOME', { state: p.state, message: new RegExp(`lies in ${p.root}/home/alice, which is owned by uid ${alice}`) });
    expect(await lookupUser('bob', { prefix: p.root })).toBeDefined();
  });

  it('a parent owned by root but writable by group or others (sticky or not), or below a user-owned directory, is refused too', async () => {
    p = prefixRoot();
    const [alice, bob] = twoUids();
    p.sh('useradd', '-m', '-u', String(alice), 'alice');
    p.sh('useradd', '-M', '-u', String(bob), '-d', '/home/shared/bob', 'bob');
    for (const mode of [0o777, 0o1777, 0o775, 0o757]) {
      dir(p, 'home/shared', 0, mode);
      dir(p, 'home/shared/bob', bob, 0o700);
      await expectRefused(removeBob(p), 'UNSAFE_HOME', { state: p.state, message: /home\/shared, which is writable by group or others/ });
    }
    // Root's own directory, but inside alice's: she can rename it away and put her own in its place.
    p.sh('usermod', '-d', '/home/alice/sub/bob', 'bob');
    dir(p, 'home/alice/sub', 0, 0o755);
    dir(p, 'home/alice/sub/bob', bob, 0o700);
    await expectRefused(removeBob(p), 'UNSAFE_HOME', { state: p.state, message: new RegExp(`has an ancestor ${p.root}/home/alice owned by uid ${alice}`) });
  });

  it("ensureUser refuses to create a home in alice's directory (its undo could not remove it)", async () => {
    p = prefixRoot();
    p.sh('useradd', '-m', '-u', String(freeUid()), 'alice');
    await expectRefused(ensureUser({ name: 'bob', uid: freeUid(), prefix: p.root, home: '/home/alice/bob' }), 'UNSAFE_HOME', { state: p.state, message: /lies in .*\/home\/alice, which is owned by uid/ });
  });

  it('a home in a root-only directory below the home base is still removed', async () => {
    p = prefixRoot();
    const bob = freeUid();
    dir(p, 'home/team', 0, 0o755);
    p.sh('useradd', '-M', '-u', String(bob), '-d', '/home/team/bob', 'bob');
    dir(p, 'home/team/bob', bob, 0o700);
    const { exec } = faultyExec();
    expect((await runSteps('users home boundaries', [removeBob(p)], exec)).status).toBe('committed');
    expect(fs.readdirSync(join(p.root, 'home/team'))).toEqual([]);
  });
});

describe('a home with a mount in it, or that is one, is refused before anything is touched', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));

  it('a bind mount of the same filesystem inside the home: UNSAFE_HOME naming it, what it shows kept; the home itself a bind mount: CROSS_DEVICE', async () => {
    p = prefixRoot();
    const bob = freeUid();
    p.sh('useradd', '-m', '-u', String(bob), 'bob');
    const shared = dir(p, 'srv/shared', 0, 0o755);
    fs.writeFileSync(join(shared, 'team.db'), 'everyone\'s\n');
    const inside = dir(p, 'home/bob/shared', bob, 0o755);
    const unmount: string[] = [];
    try {
      execFileSync('mount', ['--bind', shared, inside]);
      unmount.push(inside);
      await expectRefused(removeBob(p), 'UNSAFE_HOME', { state: p.state, message: new RegExp(`has a filesystem mounted inside it \\(${inside}\\)`) });
      execFileSync('umount', [inside]);
      unmount.pop();
      const home = join(p.root, 'home/bob');
      execFileSync('mount', ['--bind', home, home]);
      unmount.push(home);
      await expectRefused(removeBob(p), 'CROSS_DEVICE', { state: p.state, message: /is a mount point/ });
    } finally {
      for (const at of unmount.reverse()) spawnSync('umount', ['-l', at]);
    }
    expect(fs.readFileSync(join(shared, 'team.db'), 'utf8')).toBe('everyone\'s\n');
  });
});
