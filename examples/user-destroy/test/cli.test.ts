import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere, treeState } from '@unwind/core/testing';
import { machineDb, repoRoot, runChild, skipReason } from './helpers.js';

const main = join(repoRoot, 'examples/user-destroy/src/main.ts');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function sandboxDir(): string {
  const parent = fs.mkdtempSync(join(tmpdir(), 'unwind-ex-destroy-cli-'));
  // The destroy runs as the user, who must be able to reach the sandbox (mkdtemp makes 0700).
  fs.chmodSync(parent, 0o755);
  dirs.push(parent);
  return join(parent, 'sb');
}

const state = (root: string) => treeState(root, { ignore: (rel) => rel === 'var/lib/unwind-user-destroy' || /^etc\/(passwd|group|shadow|gshadow)-$/.test(rel) });

describe('user-destroy command line', () => {
  beforeAll(() => requireHere(skipReason, 'root (the real shadow tools and setpriv)'));
  it('init makes a sandbox; destroy with --simulate-busy says what failed, that a rollback ran and how it ended, and leaves the sandbox as it was; exit 1', async () => {
    const root = sandboxDir();
    const machine = machineDb();
    const init = await runChild(main, ['init', '--sandbox', root]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(new RegExp(`Sandbox made at ${root}: user alice \\(uid \\d+\\) with managed state ${root}/home/alice/.config/example-app and ${root}/home/alice/.local/share/example-app, a linger file, and the sample application ${root}/usr/local/bin/example-app.`));
    const before = state(root);

    const r = await runChild(main, ['--sandbox', root, '--simulate-busy', '--retries', '1', '--grace-ms', '100']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`Destroying user alice in the sandbox ${root} FAILED, and a rollback ran.`);
    expect(r.stderr).toContain('Step 4 of 4 failed: remove user alice');
    expect(r.stderr).toContain('userdel: user alice is currently used by process 4242');
    expect(r.stderr).toContain('The account could not be deleted: it stayed busy after 2 attempts');
    expect(r.stderr).toContain('Rolled back 4 steps, newest first.');
    expect(r.stderr).toContain(`Result: rolled back — user alice exists with all of their state (${root}/home/alice/.config/example-app, ${root}/home/alice/.local/share/example-app restored from the snapshots taken first).`);
    expect(state(root)).toEqual(before);

    // The destroy command and its snapshot scope given explicitly, as for a real application.
    const app = `${root}/usr/local/bin/example-app`;
    const done = await runChild(main, ['--sandbox', root, '--grace-ms', '100', '--snapshot', '.config/example-app', '--snapshot', '.local/share/example-app', '--', app, 'destroy']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain(`Deleted user alice in the sandbox ${root}, after running their destroy command (${app} destroy) as them.`);
    expect(fs.existsSync(`${root}/home/alice/.local/share/example-app`)).toBe(false);
    expect(fs.readFileSync(join(root, 'etc/passwd'), 'utf8')).not.toMatch(/^alice:/m);
    expect(machineDb()).toEqual(machine);

    const rec = await runChild(main, ['recover', '--sandbox', root]);
    expect(rec.code).toBe(0);
    expect(rec.stdout).toContain('Nothing to recover: no interrupted destroy.');
  });

  it('refuses what it must: --real without --user, a directory that is not a sandbox, an unknown user', async () => {
    const real = await runChild(main, ['--real']);
    expect(real.code).toBe(64);
    expect(real.stderr).toContain('--real needs --user: this program never guesses which account to delete.');
    const noCommand = await runChild(main, ['--real', '--user', 'nobody-here']);
    expect(noCommand.code).toBe(64);
    expect(noCommand.stderr).toContain("--real needs the application's destroy command after --");

    const other = sandboxDir();
    fs.mkdirSync(other, { recursive: true });
    fs.writeFileSync(join(other, 'precious.txt'), 'mine');
    const refused = await runChild(main, ['--sandbox', other]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`Refusing: ${other} exists and is not a sandbox made by this program.`);
    expect(fs.readdirSync(other)).toEqual(['precious.txt']);

    const root = sandboxDir();
    expect((await runChild(main, ['init', '--sandbox', root])).code).toBe(0);
    const before = state(root);
    const bob = await runChild(main, ['--sandbox', root, '--user', 'bob']);
    expect(bob.code).toBe(4);
    expect(bob.stderr).toContain(`User bob does not exist in the sandbox ${root}; nothing was changed.`);
    expect(state(root)).toEqual(before);
  });

  it('a sandbox root another user made, even an empty one, is refused before /etc/shadow is copied into it; exit 4', async () => {
    const theirs = sandboxDir();
    fs.mkdirSync(theirs, { mode: 0o755 });
    fs.chownSync(theirs, 65534, 65534);
    const init = await runChild(main, ['init', '--sandbox', theirs]);
    expect(init.code, init.stderr).toBe(4);
    expect(init.stderr).toContain(`Refusing: sandbox root ${theirs} is owned by uid 65534, not by the running user (uid 0)`);
    expect(fs.readdirSync(theirs)).toEqual([]);
    const destroy = await runChild(main, ['--sandbox', theirs]);
    expect(destroy.code, destroy.stderr).toBe(4);
    expect(fs.readdirSync(theirs)).toEqual([]);
  });
});
