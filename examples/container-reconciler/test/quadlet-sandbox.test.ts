// The README's Quadlet sandbox run, as written there: `sandbox --quadlet` deploys the sample Quadlet
// files (one in a transform sub-directory) in a throw-away machine it boots; an edit that Quadlet
// would reject is refused (from the files, before a machine boots); a directory that is not a sandbox is refused; this machine unchanged.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cannotBootMachine, requireHere } from '@unwind/core/testing';
import { runChild } from './helpers.js';

const main = join(import.meta.dirname, '..', 'src', 'main.ts');

describe("the README's Quadlet sandbox run", () => {
  beforeAll(() => requireHere(process.getuid?.() === 0 ? cannotBootMachine() : 'not root', 'root and what a throw-away machine needs (unshare, nsenter, setpriv, systemd)'));

  it('deploys web (with its volume) and api (its transform merged) on their own managers; a file without Image= is refused; the machine running it is unchanged', async () => {
    const root = fs.mkdtempSync(join(tmpdir(), 'unwind-cr-quadlet-sandbox-'));
    const stranger = fs.mkdtempSync(join(tmpdir(), 'unwind-cr-not-a-quadlet-sandbox-'));
    try {
      const passwd = fs.readFileSync('/etc/passwd', 'utf8');
      fs.rmdirSync(root);
      // The refusal of a directory that is not a sandbox runs beside the first run (it touches neither the sandbox nor a machine).
      fs.writeFileSync(join(stranger, 'mine'), 'x');
      const [first, refused] = await Promise.all([runChild(main, ['sandbox', '--quadlet', '--sandbox', root]), runChild(main, ['sandbox', '--quadlet', '--sandbox', stranger])]);
      expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
      expect(first.stdout).toMatch(/created +api: created/);
      expect(first.stdout).toMatch(/created +web: created/);
      expect(first.stdout).toContain("api.service on api's own manager: active, generated from /home/api/.config/containers/systemd/api.container");
      expect(first.stdout).toContain("web.service on web's own manager: active, generated from /home/web/.config/containers/systemd/web.container");
      expect(first.stdout).toContain('the Quadlet generator was a stand-in');
      expect(fs.readFileSync('/etc/passwd', 'utf8')).toBe(passwd);

      // The README's edit: api without Image= — refused before anything changes, the problem named.
      fs.writeFileSync(join(root, 'desired/tailnet/api.container'), '[Container]\nExec=/bin/sleep infinity\n');
      const second = await runChild(main, ['sandbox', '--quadlet', '--sandbox', root]);
      expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(4);
      expect(second.stdout).toContain('api.container: no Image= (or Rootfs=) in [Container]');
      expect(second.stdout).toContain('Nothing was changed');
      // Refused from the files alone, before any machine was booted.
      expect(second.stdout).not.toContain('In a throw-away machine');

      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain('is not a Quadlet sandbox made by this program');
      expect(fs.readdirSync(stranger)).toEqual(['mine']);
      expect(fs.readFileSync('/etc/passwd', 'utf8')).toBe(passwd);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(stranger, { recursive: true, force: true });
    }
  }, 600_000);
});
