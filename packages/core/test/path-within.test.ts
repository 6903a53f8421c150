import { describe, expect, it } from 'vitest';
import { isWithin } from '@unwind/core';

describe('isWithin', () => {
  it('a path is within itself and within every directory above it', () => {
    expect(isWithin('/home/bob', '/home/bob')).toBe(true);
    expect(isWithin('/home/bob/', '/home/bob')).toBe(true);
    expect(isWithin('/home/bob/x/y', '/home/bob')).toBe(true);
    expect(isWithin('/etc', '/')).toBe(true);
    expect(isWithin('/', '/')).toBe(true);
  });

  it('a name that only begins like the root, or with two dots, is judged by whole names', () => {
    expect(isWithin('/home/bobby', '/home/bob')).toBe(false);
    expect(isWithin('/home/bob/..carol', '/home/bob')).toBe(true);
    expect(isWithin('/home/bob', '/home/bob/..carol')).toBe(false);
    expect(isWithin('/home', '/home/bob')).toBe(false);
  });

  it('dot segments are resolved before the judgement, never matched as text', () => {
    expect(isWithin('/a/b/../../etc', '/a')).toBe(false);
    expect(isWithin('/a/./b', '/a/b')).toBe(true);
    expect(isWithin('/a/b/..', '/a/b')).toBe(false);
  });
});
