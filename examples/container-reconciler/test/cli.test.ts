import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { makeSandbox, manager, names, runChild, skipReason, type Sandbox } from './helpers.js';

const skip = skipReason();
const main = join(import.meta.dirname, '..', 'src', 'main.ts');

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  for (const s of sandboxes.splice(0)) await s.cleanup();
});

function argv(s: Sandbox, ...extra: string[]): string[] {
  const m = manager();
  return ['--desired', s.desiredDir, '--state', s.stateDir, '--prefix', s.prefix, '--linger-dir', s.lingerDir, '--loginctl', s.loginctl, '--systemctl', s.systemctl,
    '--shared-unit-dir', m.unitDir, '--shared-home', m.home, '--shared-runtime-dir', m.runtimeDir, '--settle', '200', '--timeout', '15000', ...extra];
}

describe('container reconciler: the command line', () => {
  beforeAll(() => requireHere(skip, 'root, the real shadow tools and a systemd user manager'));
  it('says in plain words what happened to each container and how the run ended; exit codes 0 and 4', async () => {
    const s = makeSandbox();
    sandboxes.push(s);
    const [a, b] = names('a', 'b') as [string, string];
    s.desire(a);
    s.desire(b);
    const ok = await runChild(main, argv(s));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`created        ${a}: created`);
    expect(ok.stdout).toContain(`created        ${b}: created`);
    expect(ok.stdout).toContain('All 2 items are as desired.');
    expect(ok.stdout).toContain(`Status written to ${join(s.stateDir, 'status.json')}`);

    fs.writeFileSync(join(s.desiredDir, 'notes.txt'), 'x');
    const bad = await runChild(main, argv(s));
    expect(bad.code).toBe(4);
    expect(bad.stdout).toContain('problem: notes.txt: not a <name>.service file');
    expect(bad.stdout).toContain('Nothing was changed');

    fs.rmSync(join(s.desiredDir, 'notes.txt'));
    const json = await runChild(main, argv(s, '--json'));
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).items.map((i: { outcome: string }) => i.outcome)).toEqual(['unchanged', 'unchanged']);
  });

  it('a failed container: exit 1, the line names the step, says it was rolled back; the other is deployed', async () => {
    const s = makeSandbox();
    sandboxes.push(s);
    const [a, b] = names('a', 'b') as [string, string];
    s.desire(a);
    s.desire(b, '[Unit]\nDescription=dies at once\n\n[Service]\nExecStart=/bin/false\n');
    const res = await runChild(main, argv(s));
    expect(res.code, res.stderr).toBe(1);
    expect(res.stdout).toContain(`created        ${a}: created`);
    expect(res.stdout).toMatch(new RegExp(`failed +${b}: create failed at step 8 \\(restart ${b}\\.service.*rolled back, this item is as it was before`));
    expect(res.stdout).toContain('1 of 2 items failed; each failed item was rolled back on its own, the others were applied.');
  });

  it('the README\'s sandbox run: two sample containers in a temp root (a private user manager), the machine\'s own database untouched; a directory that is not a sandbox is refused', async () => {
    const root = fs.mkdtempSync(join(tmpdir(), 'unwind-cr-sandbox-'));
    const stranger = fs.mkdtempSync(join(tmpdir(), 'unwind-cr-not-a-sandbox-'));
    try {
      const passwd = fs.readFileSync('/etc/passwd', 'utf8');
      const first = await runChild(main, ['sandbox', '--sandbox', root, '--settle', '200']);
      expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
      expect(first.stdout).toMatch(/created +clock: created/);
      expect(first.stdout).toMatch(/created +hello: created/);
      expect(fs.readFileSync(join(root, 'root/etc/passwd'), 'utf8')).toMatch(/^hello:x:\d+:\d+:unwind-container:/m);
      expect(fs.readdirSync(join(root, 'root/var/lib/systemd/linger')).sort()).toEqual(['clock', 'hello']);
      expect(fs.readFileSync('/etc/passwd', 'utf8')).toBe(passwd);
      // The private manager stopped with the first command: the second finds the services stopped and repairs them.
      fs.rmSync(join(root, 'desired/clock.service'));
      const second = await runChild(main, ['sandbox', '--sandbox', root, '--settle', '200']);
      expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
      expect(second.stdout).toMatch(/removed +clock/);
      expect(second.stdout).toMatch(/repaired +hello: .*service not active/);
      expect(fs.readFileSync(join(root, 'root/etc/passwd'), 'utf8')).not.toMatch(/^clock:/m);
      fs.writeFileSync(join(stranger, 'mine'), 'x');
      const refused = await runChild(main, ['sandbox', '--sandbox', stranger]);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain('is not a sandbox made by this program');
      expect(fs.readdirSync(stranger)).toEqual(['mine']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(stranger, { recursive: true, force: true });
    }
  });

  it("a sandbox root another user made (one left in /tmp) is refused before its stubs or units are run, the Quadlet one too; exit 4", async () => {
    const theirs = fs.mkdtempSync(join(tmpdir(), 'unwind-cr-theirs-'));
    const marker = join(fs.mkdtempSync(join(tmpdir(), 'unwind-cr-marker-')), 'ran');
    try {
      // Mallory's tree looks like a sandbox this program made: her passwd, her loginctl and systemctl.
      fs.mkdirSync(join(theirs, 'root/etc'), { recursive: true });
      fs.copyFileSync('/etc/passwd', join(theirs, 'root/etc/passwd'));
      fs.mkdirSync(join(theirs, 'bin'));
      for (const stub of ['loginctl', 'systemctl']) fs.writeFileSync(join(theirs, 'bin', stub), `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
      fs.mkdirSync(join(theirs, 'desired'));
      fs.writeFileSync(join(theirs, 'desired/evil.service'), `[Service]\nExecStart=/bin/touch ${marker}\n`);
      fs.chmodSync(theirs, 0o755);
      fs.chownSync(theirs, 65534, 65534);
      const refused = await runChild(main, ['sandbox', '--sandbox', theirs, '--settle', '200']);
      expect(refused.code, `${refused.stdout}\n${refused.stderr}`).toBe(4);
      expect(refused.stderr).toContain(`sandbox root ${theirs} is owned by uid 65534, not by the running user (uid 0)`);
      expect(fs.existsSync(marker)).toBe(false);
      expect(fs.readdirSync(theirs).sort()).toEqual(['bin', 'desired', 'root']);
      const empty = fs.mkdtempSync(join(tmpdir(), 'unwind-cr-theirs-quadlet-'));
      fs.chownSync(empty, 65534, 65534);
      try {
        const quadlet = await runChild(main, ['sandbox', '--quadlet', '--sandbox', empty]);
        expect(quadlet.code, `${quadlet.stdout}\n${quadlet.stderr}`).toBe(4);
        expect(quadlet.stderr).toContain(`sandbox root ${empty} is owned by uid 65534`);
        expect(fs.readdirSync(empty)).toEqual([]);
      } finally {
        fs.rmSync(empty, { recursive: true, force: true });
      }
    } finally {
      fs.rmSync(theirs, { recursive: true, force: true });
      fs.rmSync(join(marker, '..'), { recursive: true, force: true });
    }
  });

  it('names from the desired state reach the terminal escaped: a file name with ESC, BEL and a newline is shown, never run', async () => {
    const s = makeSandbox();
    sandboxes.push(s);
    const evil = 'evil\u001b]0;owned\u0007\u001b[2J\nfake.txt';
    fs.writeFileSync(join(s.desiredDir, evil), 'x');
    const bad = await runChild(main, argv(s));
    expect(bad.code).toBe(4);
    expect(bad.stdout).toContain('problem: evil\\x1b]0;owned\\x07\\x1b[2J\\nfake.txt: not a <name>.service file');
    expect(bad.stdout + bad.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    const json = await runChild(main, argv(s, '--json'));
    // --json keeps the name exactly (JSON escapes it), and stays valid JSON.
    expect(JSON.parse(json.stdout).problems.map((p: { message: string }) => p.message).join('\n')).toContain(evil);
  });

  it('a bad command line is refused with exit 4', async () => {
    const res = await runChild(main, ['--desired', '/x']);
    expect(res.code).toBe(4);
    expect(res.stderr).toContain('--state DIR and --desired DIR (or --repository URL) are required');
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });
});
