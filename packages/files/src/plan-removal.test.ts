import { describe, expect, it } from 'vitest';
import { Volume } from 'memfs';
import { isWithin } from '@unwind/core';
import { mountOf, mountsWithin, normalizeRoots, parseMountPoints, planRemoval, strayKeeps, type PlanFs } from './plan-removal.js';

// Pure planning: a disk adds nothing here, so the tree lives in memfs.
function memfsTree(files: Record<string, string | null>, links: Record<string, string> = {}): PlanFs {
  const vol = Volume.fromJSON(files);
  for (const [path, target] of Object.entries(links)) vol.symlinkSync(target, path);
  return {
    lstat: (p) => {
      try {
        return vol.lstatSync(p);
      } catch {
        return undefined;
      }
    },
    readdir: (p) => vol.readdirSync(p) as string[],
  };
}

const home = memfsTree(
  {
    '/home/alice/.ssh/authorized_keys': 'k',
    '/home/alice/.ssh/id_ed25519': 'k',
    '/home/alice/src/a/b.c': 'x',
    '/home/alice/src/keepme/x': 'x',
    '/home/alice/notes.txt': 'n',
    '/home/bob/file': 'b',
    '/var/mail/alice': 'm',
    '/var/empty': null,
  },
  { '/home/alice/www': '/srv/www' },
);

describe('normalizeRoots', () => {
  it('drops duplicates and paths under another requested path, keeping the caller order', () => {
    expect(normalizeRoots(['/c', '/a/b', '/a', '/c', '/a/b/c'])).toEqual(['/c', '/a']);
  });
  it('treats /ab as no child of /a', () => {
    expect(normalizeRoots(['/a', '/ab'])).toEqual(['/a', '/ab']);
    expect(isWithin('/ab', '/a')).toBe(false);
    expect(isWithin('/a/b', '/a')).toBe(true);
  });
});

describe('planRemoval', () => {
  it('moves a path whole when nothing under it is kept', () => {
    expect(planRemoval(['/home/bob', '/var/mail/alice'], [], home)).toEqual({ move: ['/home/bob', '/var/mail/alice'], kept: [], opened: [], missing: [] });
  });

  it('opens directories above a kept path and moves every sibling, never the kept path', () => {
    const plan = planRemoval(['/home/alice'], ['/home/alice/.ssh', '/home/alice/src/keepme'], home);
    expect(plan.kept).toEqual(['/home/alice/.ssh', '/home/alice/src/keepme']);
    expect(plan.opened).toEqual(['/home/alice', '/home/alice/src']);
    expect(plan.move).toEqual(['/home/alice/notes.txt', '/home/alice/src/a', '/home/alice/www']);
    for (const k of plan.kept) expect(plan.move.some((m) => isWithin(k, m))).toBe(false);
  });

  it('keeps a symlink that a keep path goes through, instead of opening (following) it', () => {
    const plan = planRemoval(['/home/alice'], ['/home/alice/www/index.html'], home);
    expect(plan.kept).toEqual(['/home/alice/www']);
    expect(plan.move).not.toContain('/home/alice/www');
  });

  it('keeping the requested path itself moves nothing', () => {
    expect(planRemoval(['/home/alice'], ['/home/alice'], home)).toMatchObject({ move: [], kept: ['/home/alice'] });
  });

  it('a keep entry that does not exist still keeps its existing ancestors in place', () => {
    const plan = planRemoval(['/home/alice'], ['/home/alice/src/new/file'], home);
    expect(plan.opened).toEqual(['/home/alice', '/home/alice/src']);
    expect(plan.move).toContain('/home/alice/src/a');
    expect(plan.move).not.toContain('/home/alice/src');
  });

  it('reports missing paths and moves nothing for them', () => {
    expect(planRemoval(['/nope', '/var/empty'], [], home)).toEqual({ move: ['/var/empty'], kept: [], opened: [], missing: ['/nope'] });
  });

  it('finds keep entries outside every requested path', () => {
    expect(strayKeeps(['/home/alice'], ['/home/alice/.ssh', '/home/bob'])).toEqual(['/home/bob']);
  });
});

describe('mount points', () => {
  const info = [
    '22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '98 22 0:45 / /srv/data/cache rw - tmpfs tmpfs rw',
    '99 22 0:46 / /mnt/with\\040space rw - tmpfs tmpfs rw',
    '',
  ].join('\n');
  it('parses mountinfo and decodes octal escapes', () => {
    expect(parseMountPoints(info)).toEqual(['/', '/srv/data/cache', '/mnt/with space']);
  });
  it('finds the mount a path lives on (longest prefix, not string prefix)', () => {
    const mounts = parseMountPoints(info);
    expect(mountOf('/srv/data/cache/x', mounts)).toBe('/srv/data/cache');
    expect(mountOf('/srv/data/cachex', mounts)).toBe('/');
    expect(mountOf('/', mounts)).toBe('/');
  });
  it('finds mounts at or below a path', () => {
    const mounts = parseMountPoints(info);
    expect(mountsWithin('/srv/data', mounts)).toEqual(['/srv/data/cache']);
    expect(mountsWithin('/srv/data/cache', mounts)).toEqual(['/srv/data/cache']);
    expect(mountsWithin('/srv/other', mounts)).toEqual([]);
  });
});
