/**
 * A privileged group that only the machine's group database knows — here
 * systemd's userdb, a drop-in record in /run/userdb read through nss-systemd
 * (nsswitch.conf's `group: files systemd`), as LDAP or SSSD would answer —
 * has a gid all the same, and a local group with that gid is a second name
 * for it: its members get what the gid gets. Without a prefix, unwind asks
 * the whole database (`getent`), not /etc/group alone. On the throw-away
 * machine's own accounts; everything made is removed whatever happened.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { commandOutput as sh, notInsideMachine, runSteps } from '@unwind/core/testing';
import { addToGroup, ensureUser, removeFromGroup } from '../src/index.js';
import { machineGroupGids } from '../src/nss-groups.js';

const outside = notInsideMachine();
if (outside) throw new Error(`these tests add groups and users to the machine they run on: ${outside}`);

const USERDB = '/run/userdb';
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A privileged group name the machine does not have, given a free gid by a userdb drop-in record only. */
function privilegedOnlyInUserdb(): { name: string; gid: number } {
  const name = ['wheel', 'admin', 'lxd', 'libvirt'].find((candidate) => sh(['getent', 'group', candidate], [0, 2]) === '');
  if (name === undefined) throw new Error('every candidate privileged group already exists on this machine');
  let gid = 0;
  while (gid === 0 || sh(['getent', 'group', String(gid)], [0, 2]) !== '') gid = 61_000 + Math.floor(Math.random() * 3000);
  const made = !fs.existsSync(USERDB);
  fs.mkdirSync(USERDB, { recursive: true, mode: 0o755 });
  fs.writeFileSync(`${USERDB}/${name}.group`, JSON.stringify({ groupName: name, gid }));
  fs.symlinkSync(`${name}.group`, `${USERDB}/${gid}.group`);
  cleanups.push(() => {
    fs.rmSync(`${USERDB}/${name}.group`, { force: true });
    fs.rmSync(`${USERDB}/${gid}.group`, { force: true });
    if (made) fs.rmSync(USERDB, { recursive: true, force: true });
  });
  // nss-systemd answers it: the machine's group database has the group, /etc/group does not.
  expect(sh(['getent', 'group', name])).toBe(`${name}:x:${gid}:`);
  expect(fs.readFileSync('/etc/group', 'utf8')).not.toMatch(new RegExp(`^${name}:`, 'm'));
  return { name, gid };
}

describe("a privileged group only the machine's group database knows (systemd's userdb through NSS)", () => {
  it('a local group with its gid is its second name: no member is added to it or taken out, by any kind', async () => {
    const privileged = privilegedOnlyInUserdb();
    const suffix = randomBytes(3).toString('hex');
    const alias = `alias${suffix}`;
    const user = `nss${suffix}`;
    cleanups.push(() => {
      sh(['userdel', user], [0, 6]);
      sh(['groupdel', alias], [0, 6]);
    });
    // -o: groupadd itself sees the gid as taken through NSS.
    sh(['groupadd', '-o', '-g', String(privileged.gid), alias]);
    sh(['useradd', '--no-create-home', '--user-group', user]);
    expect(machineGroupGids(['root', privileged.name]).get(privileged.gid)).toBe(privileged.name);

    const reason = new RegExp(`an alias of the privileged group ${privileged.name} \\(same gid ${privileged.gid}\\)`);
    for (const step of [addToGroup({ user, group: alias }), ensureUser({ name: user, groups: [alias] })]) {
      const outcome = await runSteps('nss privileged alias', step);
      expect(outcome.status === 'refused' || outcome.status === 'rolled-back').toBe(true);
      expect('cause' in outcome && outcome.cause.code).toBe('PROTECTED_USER');
      expect('cause' in outcome && outcome.cause.message).toMatch(reason);
    }
    expect(sh(['id', '-nG', user]).split(' ')).not.toContain(alias);

    // A member put there by hand is not taken out either.
    sh(['usermod', '--append', '--groups', alias, user]);
    const outcome = await runSteps('nss privileged alias', removeFromGroup({ user, group: alias }));
    expect('cause' in outcome && outcome.cause.code).toBe('PROTECTED_USER');
    expect(sh(['id', '-nG', user]).split(' ')).toContain(alias);
  });
});
