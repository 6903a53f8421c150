// sudoers(5) names a group as %name, %"name", %#gid, and as a non-Unix group
// %:name; the managed group must grant nothing in any of these forms, and a
// line that mentions it in a form the check cannot read is refused.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { groupProblems, sudoersRulesFor, SudoersUnclearError } from '../src/groups.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
/** A prefix root whose etc/group has the managed group `unwind-containers` with gid 990, and a sudoers.d rule `rule`. */
function prefix(rule: string): string {
  const d = fs.mkdtempSync(join(tmpdir(), 'unwind-sudoers-forms-'));
  dirs.push(d);
  fs.mkdirSync(join(d, 'etc/sudoers.d'), { recursive: true });
  fs.writeFileSync(join(d, 'etc/group'), 'root:x:0:\nunwind-containers:x:990:web\nmint-key:x:991:\n');
  fs.writeFileSync(join(d, 'etc/sudoers'), 'root ALL=(ALL) ALL\n#includedir /etc/sudoers.d\n');
  fs.writeFileSync(join(d, 'etc/sudoers.d/mint'), `Defaults env_reset\n${rule}\n`);
  return d;
}
const messages = (p: string) => groupProblems({ group: 'unwind-containers', privilegeGroup: 'mint-key', prefix: p }).map((x) => x.message);

describe('sudoers: every form that names the managed group', () => {
  it.each([
    '%unwind-containers ALL=(root) NOPASSWD: /usr/local/bin/mint-key',
    '%#990 ALL=(root) NOPASSWD: /usr/local/bin/mint-key',
    '%"unwind-containers" ALL=(root) NOPASSWD: /usr/local/bin/mint-key',
    '%:unwind-containers ALL=(root) NOPASSWD: /usr/local/bin/mint-key',
    '%:"unwind-containers" ALL=(root) NOPASSWD: /usr/local/bin/mint-key',
    '%"#990" ALL=(root) NOPASSWD: /usr/local/bin/mint-key',
    'User_Alias MINTERS = alice, %#990',
    '%unwind\\-containers ALL=(root) NOPASSWD: /usr/local/bin/mint-key',
  ])('%s is found (the gid from the prefix\'s group file)', (rule) => {
    const p = prefix(rule);
    expect(sudoersRulesFor('unwind-containers', join(p, 'etc/sudoers'), 990)).toEqual([`${join(p, 'etc/sudoers.d/mint')}:2`]);
    expect(messages(p)).toEqual([expect.stringContaining('sudoers grants the managed group "%unwind-containers" a privilege')]);
  });

  it.each([
    'unwind-containers ALL=(root) NOPASSWD: /usr/local/bin/mint-key',
    'alice ALL=(root:unwind-containers) /usr/bin/id',
    '%"unwind-containers ALL=(root) ALL',
  ])('%s mentions the group in another form: refused', (rule) => {
    const p = prefix(rule);
    expect(() => sudoersRulesFor('unwind-containers', join(p, 'etc/sudoers'), 990)).toThrow(SudoersUnclearError);
    expect(messages(p)).toEqual([expect.stringMatching(/mentions the managed group "unwind-containers" in a form this check does not understand/)]);
  });

  it.each([
    '%mint-key ALL=(root) NOPASSWD: /usr/local/bin/mint-key',
    '%unwind-containers-admin ALL=(ALL) ALL',
    '%#9900 ALL=(ALL) ALL',
    '#990 ALL=(ALL) ALL',
    'root ALL=(ALL) ALL # not for %unwind-containers',
  ])('%s grants the managed group nothing', (rule) => {
    const p = prefix(rule);
    expect(sudoersRulesFor('unwind-containers', join(p, 'etc/sudoers'), 990)).toEqual([]);
    expect(messages(p)).toEqual([]);
  });
});
