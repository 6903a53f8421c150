import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { readStatusFile } from '@unwind/reconcile';
import { isActive } from '@unwind/systemd';
import { lookupUser } from '@unwind/users';
import { reconcileContainers } from '../src/reconciler.js';
import { DB_FILES, faultyExec, makeSandbox, manager, names, skipReason, type Fault, type Sandbox } from './helpers.js';

const skip = skipReason();
const GROUP = 'unwind-containers';

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  for (const s of sandboxes.splice(0)) await s.cleanup();
});

/** A fault on the first call that `match` picks. */
function once(match: (argv: readonly string[]) => boolean, fault: Fault): (argv: readonly string[]) => Fault {
  let fired = false;
  return (argv) => {
    if (fired || !match(argv)) return undefined;
    fired = true;
    return fault;
  };
}

/** The item `failed` is exactly as before the run; `converged` were deployed. */
async function expectOnlyRolledBack(s: Sandbox, initialDb: Record<string, string>, failed: string, converged: string[]) {
  const keyOf = (line: string) => line.split(':')[0];
  for (const f of DB_FILES) {
    const now = fs.readFileSync(join(s.prefix, 'etc', f), 'utf8');
    expect(now.includes(failed), `${f} still mentions ${failed}`).toBe(false);
    const others = (text: string) => text.split('\n').filter((l) => ![...converged, GROUP].includes(keyOf(l)!));
    expect(others(now), `${f}: lines other than the converged items' changed`).toEqual(others(initialDb[f]!));
  }
  expect(fs.readdirSync(join(s.prefix, 'home')).sort()).toEqual([...converged].sort());
  expect(fs.readdirSync(s.lingerDir).sort()).toEqual([...converged].sort());
  const uids = await Promise.all(converged.map(async (n) => (await lookupUser(n, { prefix: s.prefix }))!.uid));
  expect(fs.readdirSync(s.managersDir).filter((n) => n !== 'calls.log').sort()).toEqual(uids.map((u) => `user@${u}.service`).sort());
  expect(fs.existsSync(join(manager().unitDir, `${failed}.service`))).toBe(false);
  expect(await isActive(`${failed}.service`, 'user', manager())).toBe(false);
  for (const n of converged) expect(await isActive(`${n}.service`, 'user', manager())).toBe(true);
  expect(fs.readdirSync(manager().unitDir).filter((n) => n.includes(failed))).toEqual([]);
}

describe('container reconciler: a failure at each step of one container', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  const steps: Array<[string, (a: string, s: Sandbox) => (argv: readonly string[]) => boolean]> = [
    ['ensureGroup (groupadd)', () => (argv) => argv[0] === 'groupadd'],
    ['ensureUser (useradd)', (a) => (argv) => argv[0] === 'useradd' && argv.includes(a)],
    ['addToGroup (usermod -a -G)', (a) => (argv) => argv[0] === 'usermod' && argv.includes('-G') && argv.includes(a)],
    ['enableLinger (loginctl enable-linger)', (a, s) => (argv) => argv[0] === s.loginctl && argv[1] === 'enable-linger' && argv[2] === a],
    ['startUserManager (systemctl start user@UID)', (_a, s) => (argv) => argv[0] === s.systemctl && argv.includes('start')],
    ['installUnit (its daemon-reload)', () => (argv) => argv.includes('--user') && argv.includes('daemon-reload')],
    ['restart (systemctl --user restart)', (a) => (argv) => argv.includes('restart') && argv.includes(`${a}.service`)],
  ];

  it.each(steps)('%s: the change is made, then the step fails → that container alone is rolled back; the others converge; exit 1', async (what, match) => {
    const s = makeSandbox();
    sandboxes.push(s);
    const [a, b, c] = names('a', 'b', 'c') as [string, string, string];
    for (const n of [a, b, c]) s.desire(n);
    const initialDb = Object.fromEntries(DB_FILES.map((f) => [f, fs.readFileSync(join(s.prefix, 'etc', f), 'utf8')]));
    const { exec, injected } = faultyExec(once(match(a, s), 'fail-after'));
    const report = await reconcileContainers(s.config({ exec }));
    expect(injected, `no fault was injected for ${what}`).toHaveLength(1);
    expect(report.exitCode).toBe(1);
    expect(report.items.map((i) => [i.key, i.outcome])).toEqual([[a, 'failed'], [b, 'created'], [c, 'created']]);
    const item = report.items[0]!;
    expect(item.transaction?.status).toBe('rolled-back');
    expect(item.message).toMatch(/rolled back, this item is as it was before/);
    expect(item.error?.message).toMatch(/injected failure/);
    await expectOnlyRolledBack(s, initialDb, a, [b, c]);
    const status = readStatusFile(join(s.stateDir, 'status.json'))!;
    expect(status.exitCode).toBe(1);
    expect(status.items.find((i) => i.key === a)).toMatchObject({ outcome: 'failed', transaction: { status: 'rolled-back' } });
  });

  it('a failure in the middle container leaves the one before it deployed and still deploys the one after', async () => {
    const s = makeSandbox();
    sandboxes.push(s);
    const [a, b, c] = names('a', 'b', 'c') as [string, string, string];
    for (const n of [a, b, c]) s.desire(n);
    const initialDb = Object.fromEntries(DB_FILES.map((f) => [f, fs.readFileSync(join(s.prefix, 'etc', f), 'utf8')]));
    const { exec } = faultyExec(once((argv) => argv.includes('restart') && argv.includes(`${b}.service`), 'fail'));
    const report = await reconcileContainers(s.config({ exec }));
    expect(report.exitCode).toBe(1);
    expect(report.items.map((i) => [i.key, i.outcome])).toEqual([[a, 'created'], [b, 'failed'], [c, 'created']]);
    expect(report.items[1]!.message).toMatch(/failed at step 8 \(restart/);
    await expectOnlyRolledBack(s, initialDb, b, [a, c]);
  });

  it('every external command has a timeout: a hanging loginctl is killed, that container rolls back, the others converge', async () => {
    const s = makeSandbox();
    sandboxes.push(s);
    const [a, b] = names('a', 'b') as [string, string];
    for (const n of [a, b]) s.desire(n);
    const initialDb = Object.fromEntries(DB_FILES.map((f) => [f, fs.readFileSync(join(s.prefix, 'etc', f), 'utf8')]));
    const { exec } = faultyExec(once((argv) => argv[0] === s.loginctl && argv[2] === a, 'hang'));
    const started = Date.now();
    const report = await reconcileContainers(s.config({ exec, commandTimeoutMs: 1500 }));
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(report.items.map((i) => [i.key, i.outcome])).toEqual([[a, 'failed'], [b, 'created']]);
    expect(report.items[0]!.error?.code).toBe('COMMAND_TIMEOUT');
    expect(report.exitCode).toBe(1);
    await expectOnlyRolledBack(s, initialDb, a, [b]);
  });
});
