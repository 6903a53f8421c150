import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { groupProblems, sudoersRulesFor } from './groups.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function prefix(): string {
  const d = fs.mkdtempSync(join(tmpdir(), 'unwind-sudoers-'));
  dirs.push(d);
  fs.mkdirSync(join(d, 'etc/sudoers.d'), { recursive: true });
  fs.writeFileSync(join(d, 'etc/sudoers'), 'root ALL=(ALL) ALL\n# %cusers ALL=(ALL) ALL\n#includedir /etc/sudoers.d\n');
  return d;
}

describe('the managed group grants nothing; the privilege group is another group', () => {
  it('finds a sudoers rule that names the managed group, in sudoers.d too', () => {
    const p = prefix();
    expect(sudoersRulesFor('cusers', join(p, 'etc/sudoers'))).toEqual([]);
    fs.writeFileSync(join(p, 'etc/sudoers.d/mint'), 'Defaults env_reset\n%cusers ALL=(root) NOPASSWD: /usr/local/bin/mint-key\n%cusers-admin ALL=(ALL) ALL\n');
    expect(sudoersRulesFor('cusers', join(p, 'etc/sudoers'))).toEqual([`${join(p, 'etc/sudoers.d/mint')}:2`]);
    expect(sudoersRulesFor('cusers-admin', join(p, 'etc/sudoers'))).toEqual([`${join(p, 'etc/sudoers.d/mint')}:3`]);
  });

  it('refuses a sudoers rule for the managed group, and one group for both', () => {
    const p = prefix();
    expect(groupProblems({ group: 'cusers', privilegeGroup: 'mint-key', prefix: p })).toEqual([]);
    fs.writeFileSync(join(p, 'etc/sudoers.d/mint'), '%cusers ALL=(root) NOPASSWD: /usr/local/bin/mint-key\n');
    expect(groupProblems({ group: 'cusers', prefix: p }).map((x) => x.message)).toEqual([expect.stringContaining('sudoers grants the managed group "%cusers" a privilege')]);
    expect(groupProblems({ group: 'mint-key', privilegeGroup: 'mint-key', prefix: p }).map((x) => x.message)).toEqual([expect.stringContaining('the privilege group and the managed group are both "mint-key"')]);
  });
});
