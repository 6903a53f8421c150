import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lstatIfPresent, resolveNameByName } from '../src/index.js';
import { temporaryDirectory } from '../src/testing/index.js';

// An image tree on the real disk, resolved in its own terms (root = the image) and in the machine's.
const image = temporaryDirectory('unwind-name-by-name-');
afterAll(() => image.remove());
const at = (path: string) => join(image.path, path);
fs.mkdirSync(at('home/bob/carol'), { recursive: true });
fs.mkdirSync(at('etc'));
fs.writeFileSync(at('etc/passwd'), '');
fs.symlinkSync('/home/bob/carol', at('home/carol')); // absolute: from the image's root
fs.symlinkSync('../../..', at('home/bob/up')); // climbs to the image's root, and no further
fs.symlinkSync('carol', at('home/alias')); // relative, to another link
fs.symlinkSync('loop-b', at('loop-a'));
fs.symlinkSync('loop-a', at('loop-b'));
const inImage = (path: string) => resolveNameByName(path, { root: image.path, lstat: lstatIfPresent });

describe('resolveNameByName', () => {
  it("follows links as the image's kernel would: absolute targets from its root, links to links, .. never above it", () => {
    expect(inImage('/home/carol')).toBe('/home/bob/carol');
    expect(inImage('/home/alias')).toBe('/home/bob/carol');
    expect(inImage('/home/bob/up/etc/passwd')).toBe('/etc/passwd');
    expect(inImage('/home/bob/up/../../../etc/./passwd')).toBe('/etc/passwd');
    expect(inImage('/')).toBe('/');
  });

  it('returns undefined for a missing name, a name below a file, and a loop of links', () => {
    expect(inImage('/home/nobody')).toBeUndefined();
    expect(inImage('/etc/passwd/x')).toBeUndefined();
    expect(inImage('/loop-a/x')).toBeUndefined();
  });

  it('hands every entry met to meet, in order and in the root\'s terms, links before they are followed; a throw refuses', () => {
    const met: string[] = [];
    resolveNameByName('/home/alias', { root: image.path, lstat: lstatIfPresent, meet: (path, st) => met.push(`${path} ${st.isSymbolicLink() ? 'link' : 'dir'}`) });
    expect(met).toEqual(['/home dir', '/home/alias link', '/home/carol link', '/home dir', '/home/bob dir', '/home/bob/carol dir']);
    expect(() =>
      resolveNameByName('/home/carol', {
        root: image.path,
        lstat: lstatIfPresent,
        meet: (path, st) => {
          if (st.isSymbolicLink()) throw new Error(`refused at ${path}`);
        },
      }),
    ).toThrow('refused at /home/carol');
  });

  it('resolves on the machine itself by default (root /)', () => {
    // An absolute target is the machine's path now: this one leads back into the temporary tree.
    fs.symlinkSync(at('etc'), at('machine-link'));
    expect(resolveNameByName(at('machine-link/passwd'), { lstat: lstatIfPresent })).toBe(fs.realpathSync(at('etc/passwd')));
    expect(resolveNameByName(at('home/bob/carol'), { lstat: lstatIfPresent })).toBe(fs.realpathSync(at('home/bob/carol')));
    expect(resolveNameByName(at('home/missing'), { lstat: lstatIfPresent })).toBeUndefined();
  });
});
