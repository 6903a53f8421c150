import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exploreCrashStates, exploreRecoveryCrashStates, requireHere } from '@unwind/core/testing';
import { DB_FILES, freeUid, keepMachineDatabaseUnchanged, skipReason } from './helpers.js';

// Power loss: every @unwind/users kind under the crash-state explorer, on a
// throw-away prefix root inside the sandbox (the shadow tools get -P). The
// tools' own writes are outside the model: the recorder sees each command's
// effect as un-synced changes, made durable only by what unwind syncs after
// the command (the database files and their directory, the home's parent).
// The files unwind writes itself — line edits of the database, the staged
// home, the linger file — are explored operation by operation.
const kindsModule = join(import.meta.dirname, '..', 'src', 'index.ts');
const seed = Number(process.env.UNWIND_CRASH_SEED ?? 20261203);
// The tools' backup copies (passwd-, group-, ...) hold whatever the last run replaced: no rollback restores them.
const notCompared = (path: string) => /^tree\/etc\/(passwd|shadow|group|gshadow)-$/.test(path);

keepMachineDatabaseUnchanged();

function setupPrefix(uid: number) {
  return (tree: string): void => {
    fs.mkdirSync(join(tree, 'etc'));
    fs.mkdirSync(join(tree, 'home'));
    fs.mkdirSync(join(tree, 'var/lib/systemd/linger'), { recursive: true });
    for (const f of [...DB_FILES, 'login.defs']) fs.copyFileSync(`/etc/${f}`, join(tree, 'etc', f));
    for (const f of DB_FILES) {
      const st = fs.statSync(`/etc/${f}`);
      fs.chmodSync(join(tree, 'etc', f), st.mode & 0o7777);
      fs.chownSync(join(tree, 'etc', f), st.uid, st.gid);
    }
    const sh = (tool: string, ...args: string[]) => execFileSync(tool, ['-P', tree, ...args], { stdio: 'ignore' });
    sh('useradd', '-m', '-u', String(uid + 1), 'carol');
    sh('usermod', '-a', '-G', 'users', 'carol');
    sh('useradd', '-m', '-u', String(uid + 2), 'bob');
    fs.writeFileSync(join(tree, 'home/bob/data'), 'bob data\n');
    fs.writeFileSync(join(tree, 'var/lib/systemd/linger/bob'), '');
  };
}

describe('power loss: every @unwind/users kind under the crash-state explorer', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
  const uid = freeUid();
  const kinds: Array<{ kind: string; steps: (tree: string) => Array<{ type: string; args: unknown }> }> = [
    { kind: 'users.ensureGroup', steps: (t) => [{ type: 'users.ensureGroup', args: { name: 'managed', prefix: t, gid: uid } }] },
    { kind: 'users.ensureUser', steps: (t) => [{ type: 'users.ensureUser', args: { name: 'alice', prefix: t, uid, shell: '/bin/sh' } }] },
    { kind: 'users.addToGroup', steps: (t) => [{ type: 'users.addToGroup', args: { user: 'carol', group: 'bob', prefix: t } }] },
    { kind: 'users.removeFromGroup', steps: (t) => [{ type: 'users.removeFromGroup', args: { user: 'carol', group: 'users', prefix: t } }] },
    { kind: 'users.removeUser', steps: (t) => [{ type: 'users.removeUser', args: { name: 'bob', prefix: t, removeHome: true, lingerDir: join(t, 'var/lib/systemd/linger'), graceMs: 100 } }] },
  ];
  for (const c of kinds) {
    for (const rollback of [false, true]) {
      it(`${c.kind}, ${rollback ? 'rolled back' : 'committed'}: 0 divergences`, async () => {
        const report = await exploreCrashStates({ name: `${c.kind}${rollback ? ', rolled back' : ''}`, kindsModule, setup: setupPrefix(uid), steps: c.steps, rollback, seed, statesPerPoint: c.kind === 'users.removeUser' ? 4 : 6, notCompared });
        expect(report.statesChecked).toBeGreaterThan(10);
        expect(report.divergences).toEqual([]);
      }, 600_000);
    }
  }

  const recoveries: Array<{ what: string; name: string; statesPerPoint: number; steps: (t: string) => Array<{ type: string; args: unknown }> }> = [
    {
      what: 'a transaction creating a user and adding a member',
      name: 'users.ensureUser + users.addToGroup',
      statesPerPoint: 4,
      steps: (t) => [
        { type: 'users.ensureUser', args: { name: 'alice', prefix: t, uid, shell: '/bin/sh' } },
        { type: 'users.addToGroup', args: { user: 'carol', group: 'bob', prefix: t } },
      ],
    },
    {
      what: 'a user removal with its home and linger',
      name: 'users.removeUser',
      statesPerPoint: 3,
      steps: (t) => [{ type: 'users.removeUser', args: { name: 'bob', prefix: t, removeHome: true, lingerDir: join(t, 'var/lib/systemd/linger'), graceMs: 100 } }],
    },
  ];
  for (const r of recoveries) {
    it(`a power cut during recover() of ${r.what} (rolling back, rolling forward), and a second one during the next recover(): 0 divergences`, async () => {
      const reports = await exploreRecoveryCrashStates({ name: r.name, kindsModule, setup: setupPrefix(uid), seed, statesPerPoint: r.statesPerPoint, notCompared, secondCuts: 2, steps: r.steps });
      expect(reports).toHaveLength(4);
      for (const report of reports) {
        expect(report.statesChecked).toBeGreaterThan(5);
        expect(report.divergences).toEqual([]);
      }
    }, 900_000);
  }
});
