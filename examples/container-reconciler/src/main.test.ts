import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError, absolutePaths, configFrom } from './main.js';

describe('the command line', () => {
  it('the service install-units writes gets every path absolute, the other options as given', () => {
    expect(absolutePaths(['--state', 'st', '--desired=d', '--group', 'g', '--generator-dir', '/x', '--json', '--prefix'])).toEqual([
      '--state', resolve('st'), `--desired=${resolve('d')}`, '--group', 'g', '--generator-dir', '/x', '--json', '--prefix',
    ]);
  });

  it('refuses a bad command line with a UsageError, before anything runs', () => {
    expect(() => configFrom(['--desired', '/d'])).toThrow(UsageError);
    expect(() => configFrom(['--state', '/s', '--desired', '/d', '--repository', '/r.git'])).toThrow(/exclude each other/);
    expect(() => configFrom(['--state', '/s', '--desired', '/d', '--branch', 'main'])).toThrow(/need --repository/);
    expect(() => configFrom(['--state', '/s', '--desired', '/d', '--settle=-1'])).toThrow(/whole number/);
    expect(() => configFrom(['--state', '/s', '--desired', '/d', '--timeout', 'soon'])).toThrow(/whole number/);
    expect(() => configFrom(['--state', '/s', '--nope'])).toThrow(UsageError);
    expect(configFrom(['--state', 's', '--repository', '/r.git']).config).toMatchObject({ stateDir: resolve('s'), repository: '/r.git' });
    expect(configFrom(['--state', '/s'], false).config).toEqual({ stateDir: '/s' });
  });
});
