import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { readStatusFile } from '@unwind/reconcile';
import { isActive } from '@unwind/systemd';
import { lookupGroup, lookupUser } from '@unwind/users';
import { reconcileContainers } from '../src/reconciler.js';
import { makeSandbox, manager, names, skipReason, sysctl, type Sandbox } from './helpers.js';

const skip = skipReason();

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  for (const s of sandboxes.splice(0)) await s.cleanup();
});
function sandbox(): Sandbox {
  const s = makeSandbox();
  sandboxes.push(s);
  return s;
}
const outcomes = (report: { items: Array<{ key: string; outcome: string }> }) => Object.fromEntries(report.items.map((i) => [i.key, i.outcome]));

describe('container reconciler: runs', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  it('a clean run deploys every container; a second run finds nothing to change', async () => {
    const s = sandbox();
    const [a, b, c] = names('a', 'b', 'c') as [string, string, string];
    for (const n of [c, a, b]) s.desire(n);
    const report = await reconcileContainers(s.config());
    expect(report.exitCode, JSON.stringify(report.items, null, 2)).toBe(0);
    expect(report.items.map((i) => [i.key, i.outcome])).toEqual([[a, 'created'], [b, 'created'], [c, 'created']]);
    const group = await lookupGroup('unwind-containers', { prefix: s.prefix });
    expect(group?.members.sort()).toEqual([a, b, c]);
    for (const n of [a, b, c]) {
      const user = (await lookupUser(n, { prefix: s.prefix }))!;
      expect(user.comment).toBe('unwind-container');
      expect(fs.existsSync(join(s.prefix, user.home))).toBe(true);
      expect(fs.existsSync(join(s.lingerDir, n))).toBe(true);
      expect(fs.existsSync(join(s.managersDir, `user@${user.uid}.service`))).toBe(true);
      expect(fs.readFileSync(join(manager().unitDir, `${n}.service`), 'utf8')).toBe(fs.readFileSync(join(s.desiredDir, `${n}.service`), 'utf8'));
      expect(await isActive(`${n}.service`, 'user', manager())).toBe(true);
    }
    // The manager was started explicitly and waited for, by the real argv of startUserManager.
    const calls = fs.readFileSync(join(s.managersDir, 'calls.log'), 'utf8');
    expect(calls).toMatch(/start -- user@\d+\.service/);
    expect(calls).toMatch(new RegExp(`--machine=${a}@ --no-ask-password is-system-running --wait`));
    expect(readStatusFile(join(s.stateDir, 'status.json'))?.items.map((i) => i.outcome)).toEqual(['created', 'created', 'created']);

    const before = await s.state([a, b, c]);
    const again = await reconcileContainers(s.config());
    expect(again.exitCode).toBe(0);
    expect(outcomes(again)).toEqual({ [a]: 'unchanged', [b]: 'unchanged', [c]: 'unchanged' });
    expect(again.items.every((i) => i.transaction === undefined)).toBe(true);
    expect(await s.state([a, b, c])).toEqual(before);
  });

  it('repairs drift of unchanged containers: a deleted unit file, a stopped service, linger turned off', async () => {
    const s = sandbox();
    const [a, b, c, d] = names('a', 'b', 'c', 'd') as [string, string, string, string];
    for (const n of [a, b, c, d]) s.desire(n);
    expect((await reconcileContainers(s.config())).exitCode).toBe(0);
    fs.rmSync(join(manager().unitDir, `${a}.service`));
    await sysctl('daemon-reload');
    await sysctl('stop', '--', `${a}.service`);
    await sysctl('stop', '--', `${b}.service`);
    fs.rmSync(join(s.lingerDir, c));
    const report = await reconcileContainers(s.config());
    expect(report.exitCode, JSON.stringify(report.items, null, 2)).toBe(0);
    expect(report.items.map((i) => [i.key, i.outcome, i.drift])).toEqual([
      [a, 'repaired', 'unit file missing; service not active'],
      [b, 'repaired', 'service not active'],
      [c, 'repaired', 'linger is off'],
      [d, 'unchanged', undefined],
    ]);
    for (const n of [a, b, c, d]) expect(await isActive(`${n}.service`, 'user', manager())).toBe(true);
    expect(fs.existsSync(join(manager().unitDir, `${a}.service`))).toBe(true);
    expect(fs.existsSync(join(s.lingerDir, c))).toBe(true);
  });

  it('updates a container whose unit file changed, and removes one no longer desired', async () => {
    const s = sandbox();
    const [a, b] = names('a', 'b') as [string, string];
    s.desire(a);
    s.desire(b);
    expect((await reconcileContainers(s.config())).exitCode).toBe(0);
    const bUser = (await lookupUser(b, { prefix: s.prefix }))!;
    s.desire(a, `[Unit]\nDescription=changed\n\n[Service]\nExecStart=/bin/sleep 700\n`);
    s.undesire(b);
    const report = await reconcileContainers(s.config());
    expect(report.exitCode, JSON.stringify(report.items, null, 2)).toBe(0);
    expect(outcomes(report)).toEqual({ [a]: 'updated', [b]: 'removed' });
    expect(fs.readFileSync(join(manager().unitDir, `${a}.service`), 'utf8')).toMatch(/sleep 700/);
    expect(await lookupUser(b, { prefix: s.prefix })).toBeUndefined();
    expect(fs.existsSync(join(s.prefix, bUser.home))).toBe(false);
    expect(fs.existsSync(join(s.lingerDir, b))).toBe(false);
    expect(fs.existsSync(join(manager().unitDir, `${b}.service`))).toBe(false);
    expect(await isActive(`${b}.service`, 'user', manager())).toBe(false);
    expect((await lookupGroup('unwind-containers', { prefix: s.prefix }))?.members).toEqual([a]);
  });
});
