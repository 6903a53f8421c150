import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryJournal, transaction } from '@unwind/core';
import { cannotMount, mountTmpfs, requireHere, treeState } from '@unwind/core/testing';
import { removeUser } from '../src/index.js';
import { DB_FILES, freeUid, keepMachineDatabaseUnchanged, skipReason } from './helpers.js';

// removeUser in a container whose account came with the image: the prefix root is an overlay
// whose lower layer holds the account and its home, as `RUN useradd -m app` in a Dockerfile leaves it.

const why = skipReason || cannotMount();
keepMachineDatabaseUnchanged();

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** An overlay mounted as a prefix root; its lower layer has `bob` with a home and a file in it. */
function imageRoot(uid: number): string {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-users-overlay-'));
  cleanups.push(() => fs.rmSync(base, { recursive: true, force: true }));
  const layers = join(base, 'layers');
  fs.mkdirSync(layers);
  cleanups.push(mountTmpfs(layers, '32m'));
  const lower = join(layers, 'lower');
  for (const dir of ['upper', 'work', 'lower/etc', 'lower/home', 'lower/var/lib/systemd/linger']) fs.mkdirSync(join(layers, dir), { recursive: true });
  for (const f of [...DB_FILES, 'login.defs']) fs.copyFileSync(`/etc/${f}`, join(lower, 'etc', f));
  execFileSync('useradd', ['-P', lower, '-l', '-m', '-u', String(uid), 'bob'], { stdio: 'ignore' });
  fs.writeFileSync(join(lower, 'home/bob/data'), 'bob data\n');
  const merged = join(base, 'merged');
  fs.mkdirSync(merged);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(layers, 'upper')},workdir=${join(layers, 'work')}`, merged]);
  cleanups.push(() => spawnSync('umount', ['-l', merged]));
  return merged;
}

describe("removeUser of an account that came with a container image (its home in an overlay's lower layer)", () => {
  beforeAll(() => requireHere(why, 'root, the shadow tools and mounting a tmpfs and an overlay'));

  it('removeHome: ImmovableHomeError names the overlay and the way out, and the rollback puts the account back', async () => {
    const root = imageRoot(freeUid());
    const before = treeState(root, { ignore: (path) => /^etc\/(passwd|shadow|group|gshadow)-$/.test(path) });
    const tx = transaction('remove image user', { journal: memoryJournal(), handleSignals: false });
    tx.add(removeUser({ name: 'bob', prefix: root, removeHome: true, lingerDir: join(root, 'var/lib/systemd/linger'), graceMs: 100 }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect('cause' in outcome && outcome.cause.code).toBe('IMMOVABLE_HOME');
    expect('cause' in outcome && outcome.cause.message).toMatch(/overlay filesystem's lower layer.*removeHome: false.*files\.remove and allowCopy: true/);
    expect(treeState(root, { ignore: (path) => /^etc\/(passwd|shadow|group|gshadow)-$/.test(path) })).toEqual(before);
  });

  it('without removeHome the account goes and the home stays', async () => {
    const root = imageRoot(freeUid());
    const tx = transaction('remove image user, keep home', { journal: memoryJournal(), handleSignals: false });
    tx.add(removeUser({ name: 'bob', prefix: root, lingerDir: join(root, 'var/lib/systemd/linger'), graceMs: 100 }));
    expect((await tx.run()).status).toBe('committed');
    expect(fs.readFileSync(join(root, 'etc/passwd'), 'utf8')).not.toMatch(/^bob:/m);
    expect(fs.readFileSync(join(root, 'home/bob/data'), 'utf8')).toBe('bob data\n');
  });
});
