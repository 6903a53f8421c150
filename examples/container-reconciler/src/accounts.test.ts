import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CommandRunner } from '@unwind/core';
import { isOwned, prefixExec, protection, readAccounts } from './accounts.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A prefix root with hand-written passwd and group files. */
function root(): string {
  const d = fs.mkdtempSync(join(tmpdir(), 'unwind-accounts-'));
  dirs.push(d);
  fs.mkdirSync(join(d, 'etc'));
  fs.writeFileSync(join(d, 'etc/passwd'), [
    'root:x:0:0:unwind-container:/root:/bin/bash',
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    'web:x:1001:1001:unwind-container:/srv/containers/web:/bin/sh',
    'alice:x:1002:1002:Alice Admin:/home/alice:/bin/bash',
    'marked:x:1003:1003:unwind-container:/home/marked:/bin/sh',
    'other:x:1004:1004:Someone:/home/other:/bin/sh',
  ].join('\n') + '\n');
  fs.writeFileSync(join(d, 'etc/group'), 'root:x:0:\nunwind-containers:x:990:web,alice\n');
  fs.writeFileSync(join(d, 'etc/login.defs'), 'UID_MIN 1000\n');
  return d;
}

describe('ownership and protection', () => {
  it('ownership needs both the group and the marker', () => {
    expect(isOwned({ inGroup: true, comment: 'm' }, 'm')).toBe(true);
    expect(isOwned({ inGroup: true, comment: 'Alice' }, 'm')).toBe(false);
    expect(isOwned({ inGroup: false, comment: 'm' }, 'm')).toBe(false);
  });

  it('protects root, uid 0, system accounts and the deny list', () => {
    const prefix = root();
    expect(protection('root', undefined, { deny: [], prefix })).toBe('root');
    expect(protection('toor', { uid: 0 }, { deny: [], prefix })).toBe('uid 0');
    expect(protection('daemon', { uid: 1 }, { deny: [], prefix })).toMatch(/system account: uid 1 is below UID_MIN 1000/);
    expect(protection('bob', { uid: 1500 }, { deny: ['bob'], prefix })).toBe('on the deny list');
    expect(protection('web', { uid: 1001 }, { deny: [], prefix })).toBe(false);
  });
});

describe('readAccounts', () => {
  it('reads group members, marker carriers and desired names; homes from the database; never the rest', async () => {
    const prefix = root();
    fs.mkdirSync(join(prefix, 'srv/containers/web/u'), { recursive: true });
    fs.writeFileSync(join(prefix, 'srv/containers/web/u/web.service'), 'X');
    fs.mkdirSync(join(prefix, 'srv/containers/web/q'));
    for (const f of ['web.container', 'web.volume', 'other.container', 'notes.txt']) fs.writeFileSync(join(prefix, 'srv/containers/web/q', f), f);
    const accounts = await readAccounts(['other', 'absent'], {
      prefix,
      group: 'unwind-containers',
      marker: 'unwind-container',
      deny: [],
      unitPathOf: (u, unit) => join(prefix, u.home, 'u', unit),
      quadletDirOf: (u) => join(prefix, u.home, 'q'),
    });
    const byName = Object.fromEntries(accounts.map((a) => [a.name, a]));
    expect(Object.keys(byName).sort()).toEqual(['alice', 'marked', 'other', 'root', 'web']);
    expect(byName.web).toMatchObject({ home: '/srv/containers/web', inGroup: true, comment: 'unwind-container', unitContent: 'X' });
    // Only the container's own Quadlet files: <name> with a Quadlet extension.
    expect(byName.web!.quadlet).toEqual({ 'web.container': 'web.container', 'web.volume': 'web.volume' });
    expect(byName.alice).toMatchObject({ inGroup: true, comment: 'Alice Admin', unitContent: null });
    expect(byName.marked).toMatchObject({ inGroup: false });
    expect(byName.daemon).toBeUndefined();
  });
});

describe('prefixExec', () => {
  const inner: CommandRunner = async (spec) => ({ argv: spec.argv, exitCode: 0, signal: null, stdout: 'inner', stderr: '', durationMs: 0 });
  it('answers getent from the prefix, by name and by id, exit 2 when missing', async () => {
    const exec = prefixExec(root(), inner);
    expect((await exec({ argv: ['getent', 'passwd', 'web'] })).stdout).toMatch(/^web:x:1001:/);
    expect((await exec({ argv: ['getent', 'passwd', '1002'] })).stdout).toMatch(/^alice:/);
    expect((await exec({ argv: ['getent', 'group', 'unwind-containers'] })).stdout).toMatch(/web,alice/);
    expect((await exec({ argv: ['getent', 'passwd', 'nobody-here'], okExitCodes: [0, 2] })).exitCode).toBe(2);
    await expect(exec({ argv: ['getent', 'passwd', 'nobody-here'] })).rejects.toThrow(/exited with 2/);
    expect((await exec({ argv: ['systemctl', 'show'] })).stdout).toBe('inner');
  });
});
