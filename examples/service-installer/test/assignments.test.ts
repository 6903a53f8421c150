// The check compares the config's assignments with the running process's
// environment: they must be read as systemd reads an EnvironmentFile
// (quotes removed, escapes applied), or a valid config fails verify.
import { describe, expect, it } from 'vitest';
import { assignments } from '../src/steps.js';

describe('assignments: the environment systemd gives from an EnvironmentFile', () => {
  it('unquotes a double-quoted value with a space (GREETING="hello world" is hello world)', () => {
    expect(assignments('# hello\nGREETING="hello world"\n')).toEqual(['GREETING=hello world']);
  });

  it.each([
    ['A=plain\n', ['A=plain']],
    ['  A = spaced value  \n', ['A=spaced value']],
    ["A='single \\\"kept\\\" $X'\n", ['A=single \\"kept\\" $X']],
    ['A="x\\"y\\\\z\\$w\\n"\n', ['A=x"y\\z$w\\n']],
    ['A="x"y\n', ['A=xy']],
    ['A=one\\ two\\\\\n', ['A=one two\\']],
    ['A=first \\\n  second\n', ['A=first   second']], // the escaped newline is dropped, the next line's blanks kept
    ['A="multi\nline"\n', ['A=multi\nline']],
    ['; c\n# c \\\nB=hidden\nC=\n', ['C=']],
    ['A=1\nA=2\n', ['A=2']],
    ['no equals sign\n1BAD=x\nOK=y', ['OK=y']],
  ])('%j → %j', (config, expected) => {
    expect(assignments(config)).toEqual(expected);
  });
});
