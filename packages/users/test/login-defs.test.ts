// login.defs numbers are read as the shadow tools read them: the ranges
// decide which accounts are protected, so unwind and useradd must agree on
// what UID_MIN is. Checked against the real useradd on a prefix root.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireHere } from '@unwind/core/testing';
import { loginDefsNumber, uidMin } from '../src/index.js';
import { uidRanges } from '../src/protect.js';
import { keepMachineDatabaseUnchanged, prefixRoot, skipReason, type PrefixRoot } from './helpers.js';

beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
keepMachineDatabaseUnchanged();

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

/** A prefix whose login.defs sets UID_MIN and UID_MAX to the values given, as written. */
function withRange(min: string, max: string): PrefixRoot {
  const root = prefixRoot();
  const defs = fs.readFileSync(join(root.root, 'etc/login.defs'), 'utf8').split('\n').filter((l) => !/^\s*UID_(MIN|MAX)\b/.test(l));
  fs.writeFileSync(join(root.root, 'etc/login.defs'), [...defs, `UID_MIN ${min}`, `UID_MAX ${max}`, ''].join('\n'));
  return root;
}

/** The uid useradd gives a new user in the prefix. */
function uidUseraddPicks(root: PrefixRoot, name: string): number {
  root.sh('useradd', '-M', '-N', '-g', 'users', name);
  const line = fs.readFileSync(join(root.root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  return Number(line!.split(':')[2]);
}

describe('login.defs numbers', () => {
  it('decimal, hexadecimal and octal, as strtoul in base 0; anything else is the fallback', () => {
    expect(loginDefsNumber('1000', 7)).toBe(1000);
    expect(loginDefsNumber('0x3e8', 7)).toBe(1000);
    expect(loginDefsNumber('0X3E8', 7)).toBe(1000);
    expect(loginDefsNumber('010', 7)).toBe(8);
    expect(loginDefsNumber('0', 7)).toBe(0);
    expect(loginDefsNumber('+5', 7)).toBe(5);
    for (const bad of ['1e3', '1000abc', '-5', '08', '0x', '', ' 1000', '1.5', '99999999999', undefined]) expect(loginDefsNumber(bad, 7)).toBe(7);
  });

  it.each([
    ['hexadecimal', '0xc350', '0xc357', 50000],
    ['octal', '0141520', '0141527', 50000],
  ])('%s: unwind reads the range useradd uses (its first uid, in an empty range)', (_what, min, max, first) => {
    p = withRange(min, max);
    expect(uidRanges(p.root)).toMatchObject({ min: first, max: first + 7 });
    expect(uidMin(p.root)).toBe(first);
    expect(uidUseraddPicks(p, 'rangeprobe')).toBe(first);
  });

  it('a value neither reads as a number (3e4, which Number() took for 30000) is the default for both', () => {
    p = withRange('3e4', '3e4x');
    expect(uidRanges(p.root)).toMatchObject({ min: 1000, max: 60000 });
    const picked = uidUseraddPicks(p, 'rangeprobe');
    expect(picked).toBeGreaterThanOrEqual(1000);
    expect(picked).toBeLessThan(30000);
  });
});
