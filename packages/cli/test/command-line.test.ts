import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/command-line.js';

const USAGE = 'usage: installer [install|recover] [--sandbox DIR] [--real]';
const spec = { options: { sandbox: { type: 'string' }, real: { type: 'boolean', default: false } }, commands: ['install', 'recover'], defaultCommand: 'install', usage: USAGE } as const;

function parse(argv: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  const line = parseCommandLine(argv, spec, out, err);
  return { line, out: String(out.read() ?? ''), err: String(err.read() ?? '') };
}

describe('parseCommandLine', () => {
  it('reads the command word and typed values; the default command when none is given', () => {
    expect(parse(['recover', '--sandbox', '/tmp/sb'])).toEqual({ line: { command: 'recover', values: { sandbox: '/tmp/sb', real: false, help: false } }, out: '', err: '' });
    const { line } = parse(['--real']);
    expect(line).toEqual({ command: 'install', values: { real: true, help: false } });
  });

  it('--help and -h print the usage on stdout and end with 0', () => {
    for (const flag of ['--help', '-h']) expect(parse([flag])).toEqual({ line: 0, out: `${USAGE}\n`, err: '' });
  });

  it('an unknown option, a missing value, an unknown command or two commands: the problem and the usage on stderr, exit 64', () => {
    const unknownOption = parse(['--nope']);
    expect(unknownOption.line).toBe(64);
    expect(unknownOption.err).toMatch(/--nope/);
    expect(unknownOption.err.endsWith(`${USAGE}\n`)).toBe(true);
    const missingValue = parse(['--sandbox']);
    expect(missingValue.line).toBe(64);
    expect(missingValue.err).toMatch(/--sandbox/);
    expect(parse(['uninstall'])).toEqual({ line: 64, out: '', err: `unknown command: uninstall\n${USAGE}\n` });
    expect(parse(['install', 'recover'])).toEqual({ line: 64, out: '', err: `unknown command: install recover\n${USAGE}\n` });
  });
});
