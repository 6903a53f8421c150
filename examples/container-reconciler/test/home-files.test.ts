// Root in a container user's home: what the user put there (a symlink to
// root's directory, a FIFO, a link to /dev/zero, a huge file) is refused,
// never followed, waited on or read whole.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CommandRunner, StepContext } from '@unwind/core';
import { requireHere } from '@unwind/core/testing';
import { readAccounts } from '../src/accounts.js';
import { removeUnitFile } from '../src/remove-unit-file.js';
import { skipReason } from './helpers.js';

const skip = skipReason();
const UID = 4242;

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A prefix root with user `web` (uid 4242) whose home is theirs, and root's directory `victim` holding `web.service`. */
function world() {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-home-files-'));
  dirs.push(base);
  fs.mkdirSync(join(base, 'etc'));
  fs.writeFileSync(join(base, 'etc/passwd'), `root:x:0:0:root:/root:/bin/bash\nweb:x:${UID}:${UID}:unwind-container:/home/web:/bin/sh\n`);
  fs.writeFileSync(join(base, 'etc/group'), `root:x:0:\nunwind-containers:x:990:web\n`);
  const home = join(base, 'home/web');
  fs.mkdirSync(join(home, '.config/systemd'), { recursive: true });
  fs.mkdirSync(join(home, '.config/containers'), { recursive: true });
  for (const d of ['', '.config', '.config/systemd', '.config/containers']) fs.chownSync(join(home, d), UID, UID);
  const victim = join(base, 'victim');
  fs.mkdirSync(victim);
  fs.writeFileSync(join(victim, 'web.service'), 'root unit\n');
  fs.writeFileSync(join(victim, 'web.container'), '[Container]\nImage=secret\n');
  /** The user's own symlink at `relative` in their home, pointing at `target`. */
  const link = (target: string, relative: string) => {
    fs.symlinkSync(target, join(home, relative));
    fs.lchownSync(join(home, relative), UID, UID);
  };
  /** A directory of the user's at `relative` in their home. */
  const dir = (relative: string) => {
    fs.mkdirSync(join(home, relative));
    fs.chownSync(join(home, relative), UID, UID);
  };
  return { base, home, victim, link, dir };
}

const ok: CommandRunner = async (spec) => ({ argv: spec.argv, exitCode: 0, signal: null, stdout: '', stderr: '', durationMs: 0 });
const ctx = { exec: ok, transactionId: 'T', stepIndex: 0, attempt: 1, phase: 'run', signal: new AbortController().signal, log: { debug() {}, info() {}, warn() {}, error() {} } } as unknown as StepContext;

const rules = (base: string) => ({
  prefix: base,
  group: 'unwind-containers',
  marker: 'unwind-container',
  deny: [],
  unitPathOf: (u: { home: string }, unit: string) => join(base, u.home, '.config/systemd/user', unit),
  quadletDirOf: (u: { home: string }) => join(base, u.home, '.config/containers/systemd'),
  exec: ok,
});

describe('removeUnitFile never follows a link the container user planted', () => {
  beforeAll(() => requireHere(skip, 'root (to make a home another uid owns)'));

  it('~/.config/systemd/user swapped for a link to root\'s directory: refused at prepare; do and commit rename and delete nothing there', async () => {
    const w = world();
    w.link(w.victim, '.config/systemd/user');
    const args = { path: join(w.home, '.config/systemd/user/web.service'), manager: {} };
    const prepared = await removeUnitFile.definition.prepare(args, ctx).catch((error: unknown) => error);
    // A journal made before the swap: do, undo and commit act through the walked directory too.
    const staged = join(w.home, '.config/systemd/user/.#web.service.unwind-removed-T-0');
    fs.writeFileSync(join(w.victim, '.#web.service.unwind-removed-T-0'), 'root staged\n');
    await removeUnitFile.definition.do(args, { existed: true, staged: join(w.home, '.config/systemd/user/.#web.service.unwind-removed-T-1') }, ctx).catch(() => undefined);
    await removeUnitFile.definition.commit!(args, { existed: true, staged }, undefined as never, ctx).catch(() => undefined);
    expect(fs.readFileSync(join(w.victim, 'web.service'), 'utf8')).toBe('root unit\n');
    expect(fs.readFileSync(join(w.victim, '.#web.service.unwind-removed-T-0'), 'utf8')).toBe('root staged\n');
    expect(fs.readdirSync(w.victim).sort()).toEqual(['.#web.service.unwind-removed-T-0', 'web.container', 'web.service']);
    expect(prepared).toMatchObject({ code: 'UNSAFE_PATH' });
  });

  it('the staged name read back from a journal must be the one beside the file', async () => {
    const w = world();
    w.dir('.config/systemd/user');
    const args = { path: join(w.home, '.config/systemd/user/web.service'), manager: {} };
    await expect(removeUnitFile.definition.commit!(args, { existed: true, staged: join(w.victim, 'web.service') }, undefined as never, ctx)).rejects.toMatchObject({ code: 'UNTRUSTED_JOURNAL' });
    expect(fs.existsSync(join(w.victim, 'web.service'))).toBe(true);
  });

  it('in a directory of the user\'s own, removes, puts back and deletes at commit', async () => {
    const w = world();
    const unitDir = join(w.home, '.config/systemd/user');
    w.dir('.config/systemd/user');
    fs.writeFileSync(join(unitDir, 'web.service'), 'theirs\n');
    const args = { path: join(unitDir, 'web.service'), manager: {} };
    const before = await removeUnitFile.definition.prepare(args, ctx);
    expect(before.existed).toBe(true);
    await removeUnitFile.definition.do(args, before, ctx);
    expect(fs.readdirSync(unitDir)).toEqual([`.#web.service.unwind-removed-T-0`]);
    await removeUnitFile.definition.undo!(args, before, undefined as never, ctx);
    expect(fs.readdirSync(unitDir)).toEqual(['web.service']);
    await removeUnitFile.definition.do(args, before, ctx);
    await removeUnitFile.definition.commit!(args, before, undefined as never, ctx);
    expect(fs.readdirSync(unitDir)).toEqual([]);
  });
});

describe('readAccounts reads a home\'s files only when they are regular files of a sane size', () => {
  beforeAll(() => requireHere(skip, 'root (to make a home another uid owns)'));

  it('a unit file that is a link to a file of root\'s is refused, not read', async () => {
    const w = world();
    w.dir('.config/systemd/user');
    w.link(join(w.victim, 'web.service'), '.config/systemd/user/web.service');
    await expect(readAccounts(['web'], rules(w.base))).rejects.toMatchObject({ code: 'HOME_FILE_REFUSED' });
  });

  it('a Quadlet directory that is a link to root\'s directory is refused, not read', async () => {
    const w = world();
    w.link(w.victim, '.config/containers/systemd');
    await expect(readAccounts(['web'], rules(w.base))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
  });

  it('a Quadlet file larger than 1 MiB is refused', async () => {
    const w = world();
    w.dir('.config/containers/systemd');
    fs.writeFileSync(join(w.home, '.config/containers/systemd/web.container'), `[Container]\nImage=x\n#${'x'.repeat(2 * 1024 * 1024)}\n`);
    await expect(readAccounts(['web'], rules(w.base))).rejects.toMatchObject({ code: 'HOME_FILE_REFUSED', message: expect.stringMatching(/larger than 1048576 bytes/) });
  });

  it('a FIFO or a link to /dev/zero is refused at once (never waited on, never read whole)', async () => {
    const w = world();
    w.dir('.config/containers/systemd');
    execFileSync('mkfifo', [join(w.home, '.config/containers/systemd/web.container')]);
    await expect(readAccounts(['web'], rules(w.base))).rejects.toMatchObject({ code: 'HOME_FILE_REFUSED', message: expect.stringMatching(/not a regular file/) });
    fs.rmSync(join(w.home, '.config/containers/systemd/web.container'));
    w.link('/dev/zero', '.config/containers/systemd/web.kube');
    await expect(readAccounts(['web'], rules(w.base))).rejects.toMatchObject({ code: 'HOME_FILE_REFUSED' });
  });

  it('regular files are read as before', async () => {
    const w = world();
    w.dir('.config/containers/systemd');
    fs.writeFileSync(join(w.home, '.config/containers/systemd/web.container'), '[Container]\nImage=x\n');
    const [web] = await readAccounts(['web'], rules(w.base));
    expect(web).toMatchObject({ name: 'web', unitContent: null, quadlet: { 'web.container': '[Container]\nImage=x\n' } });
  });
});
