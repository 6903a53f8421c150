import { describe, expect, it } from 'vitest';
import { InvalidInputError } from './errors.js';
import { validateAbsolutePath, validateName } from './validate.js';

describe('validateName', () => {
  it.each([
    ['with space', /whitespace/],
    ['a;rm', /must match/],
    ['$(id)', /must match/],
    ['-rf', /must not start with "-"/],
    ['a/b', /must not contain "\/"/],
    ['x'.repeat(65), /longer than 64/],
    ['', /non-empty/],
  ])('refuses %j', (value, message) => {
    expect(() => validateName(value, { what: 'name' })).toThrow(message);
    expect(() => validateName(value, { what: 'name' })).toThrow(InvalidInputError);
  });

  it('accepts ordinary names', () => {
    expect(validateName('app_1.service', { what: 'unit' })).toBe('app_1.service');
  });
});

describe('validateAbsolutePath', () => {
  it('refuses relative, unnormalised and escaping paths', () => {
    expect(() => validateAbsolutePath('etc/x', { what: 'p' })).toThrow(/absolute/);
    expect(() => validateAbsolutePath('/srv/app/../etc', { what: 'p' })).toThrow(/normalised/);
    expect(() => validateAbsolutePath('/srv/other', { what: 'p', within: '/srv/app' })).toThrow(/outside \/srv\/app/);
    expect(validateAbsolutePath('/srv/app/x', { what: 'p', within: '/srv/app' })).toBe('/srv/app/x');
  });
});
