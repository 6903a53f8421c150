import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { readStatusFile } from '@unwind/reconcile';
import { lookupGroup, lookupUser } from '@unwind/users';
import { ALLOW_MARKER } from '../src/desired.js';
import { reconcileContainers } from '../src/reconciler.js';
import { makeSandbox, names, skipReason, type Sandbox } from './helpers.js';

const skip = skipReason();
const GROUP = 'unwind-containers';
const MARKER = 'unwind-container';

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  for (const s of sandboxes.splice(0)) await s.cleanup();
});
function sandbox(): Sandbox {
  const s = makeSandbox();
  sandboxes.push(s);
  return s;
}
const line = (s: Sandbox, file: string, name: string) => fs.readFileSync(join(s.prefix, 'etc', file), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
const lines = (s: Sandbox, name: string) => ['passwd', 'shadow', 'group', 'gshadow'].map((f) => line(s, f, name));

describe('container reconciler: never removes what it does not own (one group is not ownership)', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  it('a human added to the managed group (for whatever privilege) is never removed: group membership alone is not ownership', async () => {
    const s = sandbox();
    const [web, old] = names('web', 'old') as [string, string];
    const human = `h${old.slice(1, 7)}`;
    const markOnly = `m${old.slice(1, 7)}`;
    s.desire(web);
    s.desire(old);
    expect((await reconcileContainers(s.config())).exitCode).toBe(0);
    // An operator adds a human to the group; someone else gives an account the marker text only.
    await s.sh('useradd', '-m', '-c', 'Alice Admin', '-G', GROUP, human);
    await s.sh('useradd', '-m', '-c', MARKER, markOnly);
    const humanBefore = lines(s, human);
    const markOnlyBefore = lines(s, markOnly);
    s.undesire(old);
    const report = await reconcileContainers(s.config());
    expect(report.exitCode, JSON.stringify(report.items, null, 2)).toBe(0);
    expect(Object.fromEntries(report.items.map((i) => [i.key, i.outcome]))).toEqual({ [human]: 'kept-unowned', [markOnly]: 'kept-unowned', [old]: 'removed', [web]: 'unchanged' });
    expect(lines(s, human)).toEqual(humanBefore);
    expect(lines(s, markOnly)).toEqual(markOnlyBefore);
    expect(fs.existsSync(join(s.prefix, 'home', human))).toBe(true);
    expect(await lookupUser(old, { prefix: s.prefix })).toBeUndefined();
    expect((await lookupGroup(GROUP, { prefix: s.prefix }))?.members.sort()).toEqual([human, web].sort());
    expect(readStatusFile(join(s.stateDir, 'status.json'))?.items.find((i) => i.key === human)?.message).toMatch(/does not carry the ownership marker: left alone/);
  });

  it('root, a system account and a deny-listed user are never removed, even carrying the group and the marker', async () => {
    const s = sandbox();
    const [web] = names('web') as [string];
    const denied = `d${web.slice(1, 7)}`;
    s.desire(web);
    expect((await reconcileContainers(s.config())).exitCode).toBe(0);
    await s.sh('useradd', '-m', '-c', MARKER, '-G', GROUP, denied);
    await s.sh('useradd', '-r', '-c', MARKER, '-G', GROUP, `s${web.slice(1, 7)}`);
    await s.sh('usermod', '-c', MARKER, '-a', '-G', GROUP, 'root');
    await s.sh('usermod', '-c', MARKER, '-a', '-G', GROUP, 'daemon');
    const system = `s${web.slice(1, 7)}`;
    const before = Object.fromEntries(['root', 'daemon', system, denied].map((n) => [n, lines(s, n)]));
    const report = await reconcileContainers(s.config({ deny: [denied] }));
    expect(report.exitCode, JSON.stringify(report.items, null, 2)).toBe(0);
    const byKey = Object.fromEntries(report.items.map((i) => [i.key, i]));
    expect(byKey.root).toMatchObject({ outcome: 'kept-protected', message: expect.stringMatching(/protected \(root\)/) });
    expect(byKey.daemon).toMatchObject({ outcome: 'kept-protected', message: expect.stringMatching(/system account: uid 1 is below UID_MIN/) });
    expect(byKey[system]).toMatchObject({ outcome: 'kept-protected', message: expect.stringMatching(/system account/) });
    expect(byKey[denied]).toMatchObject({ outcome: 'kept-protected', message: expect.stringMatching(/deny list/) });
    for (const n of ['root', 'daemon', system, denied]) expect(lines(s, n), n).toEqual(before[n]);
  });

  it('input that asks to manage root, a deny-listed or a system account is refused before anything changes', async () => {
    for (const [name, deny] of [['root', []], ['daemon', []], ['keepme', ['keepme']]] as const) {
      const s = sandbox();
      const [web] = names('web') as [string];
      s.desire(web);
      s.desire(name);
      const before = await s.state([web]);
      const report = await reconcileContainers(s.config({ deny: [...deny] }));
      expect(report.exitCode, name).toBe(4);
      expect(report.status).toBe('refused');
      expect(report.problems).toEqual([{ key: name, message: expect.stringMatching(/is protected .*never managed/) }]);
      expect(report.items).toEqual([]);
      expect(await s.state([web])).toEqual(before);
    }
  });

  it('an existing account named by the desired state but not carrying the marker is never adopted', async () => {
    const s = sandbox();
    const [web] = names('web') as [string];
    const human = `h${web.slice(1, 7)}`;
    await s.sh('useradd', '-m', '-c', 'A Human', human);
    const before = lines(s, human);
    s.desire(web);
    s.desire(human);
    const report = await reconcileContainers(s.config());
    expect(report.exitCode).toBe(1);
    expect(Object.fromEntries(report.items.map((i) => [i.key, i.outcome]))).toEqual({ [human]: 'failed', [web]: 'created' });
    expect(report.items.find((i) => i.key === human)?.error?.code).toBe('RECONCILE_CONFLICT');
    expect(lines(s, human)).toEqual(before);
  });
});

describe('container reconciler: the whole desired directory is validated before any change', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  it('lists every problem (unknown directory, stray file, symlink, bad name, bad unit) and changes nothing', async () => {
    const s = sandbox();
    const [web] = names('web') as [string];
    s.desire(web);
    fs.mkdirSync(join(s.desiredDir, 'transforms'));
    fs.writeFileSync(join(s.desiredDir, 'README.md'), 'hello');
    fs.symlinkSync(join(s.desiredDir, `${web}.service`), join(s.desiredDir, 'link.service'));
    fs.writeFileSync(join(s.desiredDir, 'Bad-Name.service'), '[Service]\nExecStart=/bin/true\n');
    fs.writeFileSync(join(s.desiredDir, 'broken.service'), 'this is not a unit file\n');
    fs.writeFileSync(join(s.desiredDir, 'nosvc.service'), '[Unit]\nDescription=x\n');
    const before = await s.state([web]);
    const report = await reconcileContainers(s.config());
    expect(report.exitCode).toBe(4);
    const text = report.problems.map((p) => `${p.key ?? '-'}: ${p.message}`);
    expect(text).toEqual([
      expect.stringMatching(/^-: README.md: not a <name>.service file/),
      expect.stringMatching(/^-: link.service: is a symlink/),
      expect.stringMatching(/^-: transforms\/: unknown subdirectory/),
      expect.stringMatching(/^Bad-Name: container \(user\) name "Bad-Name" must match/),
      expect.stringMatching(/^broken: /),
      expect.stringMatching(/^nosvc: nosvc.service has no \[Service\] section/),
    ]);
    expect(await s.state([web])).toEqual(before);
    expect(readStatusFile(join(s.stateDir, 'status.json'))?.problems).toHaveLength(6);
  });

  it('a subdirectory is allowed when listed or marked; then the run goes ahead', async () => {
    const s = sandbox();
    const [web] = names('web') as [string];
    s.desire(web);
    fs.mkdirSync(join(s.desiredDir, 'transforms'));
    fs.writeFileSync(join(s.desiredDir, 'transforms', ALLOW_MARKER), '');
    fs.mkdirSync(join(s.desiredDir, '.git'));
    const refused = await reconcileContainers(s.config());
    expect(refused.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^\.git\/: unknown subdirectory/)]);
    const report = await reconcileContainers(s.config({ allowedDirs: ['.git'] }));
    expect(report.exitCode).toBe(0);
    expect(report.items.map((i) => i.outcome)).toEqual(['created']);
  });
});
