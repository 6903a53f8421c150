import { describe, expect, it } from 'vitest';
import { InvalidInputError, memoryJournal, transaction, type CommandRunner, type CommandSpec, type Step } from '@unwind/core';
import { daemonReload, disable, enable, installUnit, mask, parseShow, restart, start, startUserManager, stop, validateUnitContent, validateUnitName } from './index.js';

const SERVICE = '[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n';

/** Records every command and fails the test if one runs: bad input must be refused first. */
function recording(): { exec: CommandRunner; calls: CommandSpec[] } {
  const calls: CommandSpec[] = [];
  return { calls, exec: async (spec) => { calls.push(spec); throw new Error(`no command may run, got ${spec.argv.join(' ')}`); } };
}

const BAD_NAMES = [
  'a b.service',
  'a\tb.service',
  'a\nb.service',
  'a;rm -rf.service',
  'a;id.service',
  '$(id).service',
  '`id`.service',
  'a|b.service',
  'a&b.service',
  'a>b.service',
  "a'b.service",
  'a"b.service',
  'a*.service',
  '-rf.service',
  '--now.service',
  'a/b.service',
  '../../etc/passwd.service',
  '/etc/systemd/system/a.service',
  `${'a'.repeat(250)}.service`,
  'app',
  'app.conf',
  'app.service.bak',
  '.service',
  '',
  'a@b@c.service',
  'a\\b.service',
  'a\0b.service',
];

describe('unit names', () => {
  it.each(['app.service', 'getty@tty1.service', 'app@.service', 'home-a\\x2db.mount', 'backup.timer', 'user-1000.slice', 'a:b_c.socket', `${'a'.repeat(247)}.service`])('accepts %j', (name) => {
    expect(validateUnitName(name)).toBe(name);
  });

  it.each(BAD_NAMES)('rejects %j', (name) => {
    expect(() => validateUnitName(name)).toThrow(InvalidInputError);
  });

  it('refuses templates where an instance is needed, and unit types without files for install', () => {
    expect(() => validateUnitName('app@.service', 'instance')).toThrow(/template/);
    expect(() => validateUnitName('dev-sda.device', 'file')).toThrow(/no unit file/);
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const kindsFor = (unit: string): Array<Step<any, any, any>> => [
    installUnit({ unit, content: SERVICE }),
    start({ unit }),
    stop({ unit }),
    restart({ unit }),
    enable({ unit }),
    disable({ unit }),
    mask({ unit }),
  ];

  it.each(BAD_NAMES.filter((n) => !n.includes('\0')))('every kind refuses %j before any command runs', async (name) => {
    for (const step of kindsFor(name)) {
      const { exec, calls } = recording();
      const tx = transaction('bad input', { journal: memoryJournal(), handleSignals: false, exec });
      tx.add(step);
      const outcome = await tx.run();
      expect(outcome.status).toBe('refused');
      expect(outcome.status === 'refused' && outcome.cause.code).toBe('INVALID_INPUT');
      expect(calls).toEqual([]);
    }
  });

  it('bad manager options and user names are refused before any command runs', async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const bad: Array<Step<any, any, any>> = [
      start({ unit: 'a.service', scope: { user: '-root' } }),
      start({ unit: 'a.service', scope: { user: 'a b' } }),
      start({ unit: 'a.service', scope: { user: 'alice;id' } }),
      start({ unit: 'a.service', unitDir: 'relative/dir' }),
      start({ unit: 'a.service', home: '/home/../etc' }),
      start({ unit: 'a.service', systemctl: '--version' }),
      start({ unit: 'a.service', commandTimeoutMs: 0 }),
      // Past what a Node timer keeps (2^31-1 ms): it would fire at once, killing every systemctl, the undo's too.
      installUnit({ unit: 'a.service', content: SERVICE, commandTimeoutMs: 3_000_000_000 }),
      startUserManager({ user: 'alice', timeoutMs: 1e10 }),
      start({ unit: 'a.service', settleMs: -1 }),
      start({ unit: 'a.service', scope: { user: 'alice' }, runtimeDir: '/run/user/1000' }),
      daemonReload({ scope: { user: '$(id)' } }),
      startUserManager({ user: '--help' }),
      startUserManager({ user: 'root', timeoutMs: -5 }),
      installUnit({ unit: 'a.service', content: SERVICE, mode: 0o10000 }),
    ];
    for (const step of bad) {
      const { exec, calls } = recording();
      const tx = transaction('bad input', { journal: memoryJournal(), handleSignals: false, exec });
      tx.add(step);
      const outcome = await tx.run();
      expect(outcome.status, step.kind.definition.describe(step.args as never)).toBe('refused');
      expect(calls).toEqual([]);
    }
  });
});

describe('unit file contents', () => {
  it.each([
    SERVICE,
    '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=default.target\n',
    '# comment\n; other comment\n\n[Unit]\nDescription=long \\\n  continued line\n',
    '[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n',
    '[Unit]\r\nDescription=crlf\r\n',
  ])('accepts %j', (content) => {
    expect(validateUnitContent(content)).toBe(content);
  });

  it.each([
    ['empty', ''],
    ['a path instead of contents', '/etc/systemd/system/app.service'],
    ['no section header', 'ExecStart=/bin/true\n'],
    ['assignment before the first section', 'Description=x\n[Unit]\n'],
    ['only an unknown section', '[Foo]\nBar=1\n'],
    ['a NUL byte', '[Unit]\nDescription=a\0b\n'],
    ['a shell script', '#!/bin/sh\necho hi\n'],
    ['junk line', '[Service]\nExecStart=/bin/true\nthis is not a line\n'],
  ])('rejects %s', (_what, content) => {
    expect(() => validateUnitContent(content)).toThrow(InvalidInputError);
  });

  it('installUnit refuses bad contents before any command runs', async () => {
    const { exec, calls } = recording();
    const tx = transaction('bad content', { journal: memoryJournal(), handleSignals: false, exec });
    tx.add(installUnit({ unit: 'a.service', content: 'not a unit\n' }));
    expect((await tx.run()).status).toBe('refused');
    expect(calls).toEqual([]);
  });
});

describe('parseShow', () => {
  it('parses key=value lines, splitting at the first "="', () => {
    expect(parseShow('LoadState=loaded\nActiveState=active\nExecStart={ path=/bin/x ; argv[]=/bin/x a=b }\nUnitFileState=\n')).toEqual({
      LoadState: 'loaded',
      ActiveState: 'active',
      ExecStart: '{ path=/bin/x ; argv[]=/bin/x a=b }',
      UnitFileState: '',
    });
  });
});
