import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sysctl } from '../../../packages/systemd/test/fixture.js';
import { UNWIND, createSandbox, journalRecords, runProgram, type Sandbox } from './sandbox.js';

const INSTALL = join(import.meta.dirname, '../install.sh');
let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.remove();
  sandbox = undefined;
});

// install.sh runs for real: useradd -P on a copy of the user database, real
// files, a real systemd user manager; only the places are a sandbox.
describe('examples/apply-shell/install.sh through unwind apply', () => {
  it('installs the account, the config file (group from the account step), the unit, enabled and running: exit 0', async () => {
    const sb = (sandbox = createSandbox());
    const r = await runProgram(['sh', INSTALL, sb.name], sb.env());
    expect(r.code, r.stderr).toBe(0);
    const account = fs.readFileSync(join(sb.prefix, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${sb.name}:`));
    expect(account).toBeDefined();
    const gid = Number(account!.split(':')[3]);
    const config = join(sb.configDir, `${sb.name}.conf`);
    expect(fs.readFileSync(config, 'utf8')).toContain('listen = 127.0.0.1:8080');
    expect(fs.statSync(config).gid).toBe(gid);
    expect(fs.statSync(config).mode & 0o777).toBe(0o640);
    expect((await sysctl('is-active', '--', `${sb.name}.service`)).trim()).toBe('active');
    expect((await sysctl('is-enabled', '--', `${sb.name}.service`)).trim()).toBe('enabled');
  });

  it('a service that cannot start (injected: a missing program) rolls everything back: exit 1, the sandbox as before', async () => {
    const sb = (sandbox = createSandbox());
    const before = await sb.state();
    const r = await runProgram(['sh', INSTALL, sb.name], sb.env({ APP_BIN: join(sb.base, 'no-such-program') }));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('rolled back');
    expect(await sb.state()).toEqual(before);
  });

  it('SIGKILLed in the middle (script and unwind), `unwind recover` puts the sandbox back as before', async () => {
    const sb = (sandbox = createSandbox());
    const before = await sb.state();
    // Killed once the journal holds the begin record and a few steps' records: some changes are made, not all.
    const r = await runProgram(['sh', INSTALL, sb.name], sb.env(), { killWhen: () => journalRecords(sb.journalRoot) >= 6 });
    expect(r.signal).toBe('SIGKILL');
    expect(await sb.state()).not.toEqual(before);
    const recovered = await runProgram([UNWIND, 'recover', '--root', sb.journalRoot], sb.env());
    expect(recovered.code, recovered.stderr + recovered.stdout).toBe(0);
    expect(recovered.stdout).toContain('Rolled back');
    expect(await sb.state()).toEqual(before);
  });
});
