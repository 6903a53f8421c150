import * as t from 'io-ts';
import { describe, expect, it } from 'vitest';
import { defineStep, InvalidInputError } from '@unwind/core';
import { validateDesired, validateSteps } from './validate.js';

const rules = {
  key: (i: { name: string; body: string }) => i.name,
  validate: (i: { name: string; body: string }) => (i.body === '' ? ['body is empty'] : i.body === 'throw' ? (() => { throw new Error('cannot parse body'); })() : []),
  protect: (k: string) => (k === 'root' ? 'root account' : false),
};

describe('validateDesired', () => {
  it('accepts good input', () => {
    expect(validateDesired([{ name: 'a', body: 'x' }, { name: 'b', body: 'y' }], rules)).toEqual([]);
  });

  it('collects every problem, not only the first', () => {
    const problems = validateDesired(
      [
        { name: '-rf', body: 'x' },
        { name: 'a', body: '' },
        { name: 'a', body: 'x' },
        { name: 'root', body: 'x' },
        { name: 'b', body: 'throw' },
        { name: 'has space', body: 'x' },
      ],
      rules,
    );
    expect(problems).toEqual([
      { message: expect.stringMatching(/^item 1: .*must not start with "-"/) },
      { key: 'a', message: 'body is empty' },
      { key: 'a', message: '"a" is desired more than once' },
      { key: 'root', message: expect.stringMatching(/protected \(root account\)/) },
      { key: 'b', message: 'cannot parse body' },
      { message: expect.stringMatching(/^item 6: .*whitespace/) },
    ]);
  });

  it('uses the caller key check', () => {
    const problems = validateDesired([{ name: 'Upper', body: 'x' }], { ...rules, validateKey: (k) => { if (!/^[a-z]+$/.test(k)) throw new InvalidInputError(`bad key ${k}`); } });
    expect(problems).toEqual([{ message: 'item 1: bad key Upper' }]);
  });
});

describe('validateSteps', () => {
  const kind = defineStep({
    type: 'test.checked',
    args: t.type({ n: t.number }),
    before: t.null,
    validate: (a) => {
      if (a.n < 0) throw new InvalidInputError('n must not be negative');
    },
    describe: () => 'checked',
    prepare: async () => null,
    do: async () => {},
    undo: async () => {},
  });

  it('checks codecs and validate hooks of every static step; computed arguments wait for the run', () => {
    const problems = validateSteps('web', [kind({ n: 1 }), kind({ n: -1 }), kind({ n: 'x' } as never), kind(() => ({ n: -5 }))]);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toEqual({ key: 'web', message: 'step 2 (test.checked): n must not be negative' });
    expect(problems[1]?.message).toMatch(/^step 3 \(test.checked\): step 3 \(test.checked\) has invalid arguments/);
  });
});
