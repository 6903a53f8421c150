import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { recover, runCommand, withPrograms } from '@unwind/core';
import { temporaryDirectory } from '@unwind/core/testing';
import { kinds as lingerKinds } from '@unwind/linger';
import { kinds as systemdKinds } from '@unwind/systemd';
import { craftJournal } from './accounts-sandbox.js';

// A journal is input: a program path in it (the `loginctl` of a linger step,
// the `systemctl` of a unit step) is never what recovery runs. Recovery runs
// the bare program through the command runner its caller configured.

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** A sandbox with a journal root, a linger directory, and two programs that leave a trace when run. */
function sandbox() {
  const temporary = temporaryDirectory('unwind-programs-');
  cleanups.push(temporary.remove);
  const dir = temporary.path;
  const journal = join(dir, 'journal');
  const lingerDir = join(dir, 'linger');
  fs.mkdirSync(journal, { mode: 0o700 });
  fs.mkdirSync(lingerDir);
  const trace = (name: string) => join(dir, `${name}.ran`);
  const program = (name: string, body = '') => {
    const path = join(dir, name);
    fs.writeFileSync(path, `#!/bin/sh\necho "$@" >> ${trace(name)}\n${body}`, { mode: 0o755 });
    return path;
  };
  return { dir, journal, lingerDir, trace, program };
}

describe('programs come from configuration, never from a journal', () => {
  it('linger: the journaled loginctl is not run; the configured one is', async () => {
    const s = sandbox();
    const planted = s.program('planted');
    // The configured stub does what loginctl disable-linger does to the linger directory.
    const configured = s.program('configured', `[ "$1" = disable-linger ] && rm -f ${s.lingerDir}/"$2"\n`);
    fs.writeFileSync(join(s.lingerDir, 'svc'), '');
    craftJournal(s.journal, [{ type: 'linger.enable', args: { user: 'svc', lingerDir: s.lingerDir, loginctl: planted }, before: { lingering: false }, after: null }]);
    const report = await recover({ root: s.journal, kinds: lingerKinds, exec: withPrograms(runCommand, { loginctl: configured }) });
    expect(report.transactions[0]!.result, report.transactions[0]!.error?.message).toBe('rolled-back');
    expect(fs.existsSync(s.trace('planted'))).toBe(false);
    expect(fs.readFileSync(s.trace('configured'), 'utf8')).toBe('disable-linger svc\n');
    expect(fs.existsSync(join(s.lingerDir, 'svc'))).toBe(false);
  });

  it('systemd: the journaled systemctl is not run by the undo of a start', async () => {
    const s = sandbox();
    const planted = s.program('planted');
    // The configured stub answers `show` as systemd does for a unit that is running, and records every call.
    const configured = s.program('configured', 'case "$*" in *show*) printf "LoadState=loaded\\nActiveState=active\\nSubState=running\\nUnitFileState=disabled\\n" ;; esac\n');
    craftJournal(s.journal, [{
      type: 'systemd.start',
      args: { unit: 'app.service', systemctl: planted, settleMs: 0 },
      before: { loadState: 'loaded', activeState: 'inactive', subState: 'dead', unitFileState: 'disabled' },
    }]);
    const report = await recover({ root: s.journal, kinds: systemdKinds, exec: withPrograms(runCommand, { systemctl: configured }) });
    const t = report.transactions[0]!;
    expect(['rolled-back', 'rollback-failed', 'error'], t.error?.message).toContain(t.result);
    expect(fs.existsSync(s.trace('planted'))).toBe(false);
    expect(fs.readFileSync(s.trace('configured'), 'utf8')).toMatch(/stop/);
  });

  it('withPrograms refuses a relative program path or a bad program name before anything runs', () => {
    expect(() => withPrograms(runCommand, { loginctl: 'bin/loginctl' })).toThrow(/loginctl program/);
    expect(() => withPrograms(runCommand, { '-rf': '/bin/true' })).toThrow(/program name/);
  });
});
