// A user's unit directory (scope { user }) lies in a tree that user owns, while unwind runs as root:
// every directory from the home down is reached through descriptors, never through a link the user
// could have put there (docs/security.md §3). These tests play the user's moves in temp directories
// (uid 4242); getent and systemctl are answered by a fake runner, so nothing of the machine changes.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandRunner, JournalPlace } from '@unwind/core';
import { replaceFsFunction, testContext } from '@unwind/core/testing';
import { disable, enable, installUnit, mask } from '../src/index.js';

const UID = 4242;
const content = '[Service]\nExecStart=/usr/bin/true\n';
const args = { unit: 'backup.service', scope: { user: 'alice' }, content, reload: false };

let root: string;
let home: string;
/** Stands for /etc/systemd/system: root's, where a unit file of alice's would run as root. */
let system: string;
/** Stands for /etc/shadow. */
let shadow: string;

const exec: CommandRunner = async (spec) => {
  if (spec.argv[0] === 'getent') return { exitCode: 0, stdout: `alice:x:${UID}:${UID}::${home}:/bin/sh\n`, stderr: '', argv: spec.argv, signal: null, durationMs: 0 };
  // systemctl: a loaded, disabled, inactive unit; nothing else is asked in these tests.
  const stdout = spec.argv.includes('is-enabled') ? 'disabled\n' : spec.argv.includes('show') ? 'LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n' : '';
  return { exitCode: 0, stdout, stderr: '', argv: spec.argv, signal: null, durationMs: 0 };
};

/** Makes `path` (in her home) and the directories above it up to her home directories of alice's. */
function aliceDir(path: string): void {
  fs.mkdirSync(path, { recursive: true });
  for (let dir = path; dir.startsWith(home); dir = dirname(dir)) fs.chownSync(dir, UID, UID);
}

/** alice's own symlink at `path`, to `target`. */
function aliceLink(target: string, path: string): void {
  fs.symlinkSync(target, path);
  fs.lchownSync(path, UID, UID);
}

function ownerAndMode(path: string): { uid: number; gid: number; mode: string } {
  const st = fs.lstatSync(path);
  return { uid: st.uid, gid: st.gid, mode: (st.mode & 0o7777).toString(8) };
}

beforeEach(() => {
  root = fs.mkdtempSync(join(tmpdir(), 'unwind-user-unitdir-'));
  home = join(root, 'home/alice');
  system = join(root, 'etc/systemd/system');
  shadow = join(root, 'etc/shadow');
  fs.mkdirSync(system, { recursive: true, mode: 0o755 });
  fs.writeFileSync(shadow, 'root:$6$secret:19000:0:99999:7:::\n', { mode: 0o640 });
  aliceDir(home);
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

async function withContext<T>(fn: (ctx: ReturnType<typeof testContext>['ctx']) => Promise<T>): Promise<T> {
  const { ctx, dispose } = testContext({ exec });
  try {
    return await fn(ctx);
  } finally {
    dispose();
  }
}

describe('installUnit in another user\'s scope: the way to the unit directory is the user\'s', () => {
  it('~/.config/systemd/user as a symlink to the system unit directory is refused at prepare; nothing is written there', async () => {
    aliceDir(join(home, '.config/systemd'));
    aliceLink(system, join(home, '.config/systemd/user'));
    await withContext(async (ctx) => {
      await expect(installUnit.definition.prepare(args, ctx)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    });
    expect(fs.readdirSync(system)).toEqual([]);
  });

  it('~/.config as a symlink (to /etc, so into the global user unit directory) is refused the same way', async () => {
    fs.mkdirSync(join(root, 'etc/systemd/user'), { recursive: true });
    aliceLink(join(root, 'etc'), join(home, '.config'));
    await withContext(async (ctx) => {
      await expect(installUnit.definition.prepare(args, ctx)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    });
    expect(fs.readdirSync(join(root, 'etc/systemd/user'))).toEqual([]);
  });

  it('below the home no symlink is followed at all, not even one of root\'s', async () => {
    fs.mkdirSync(join(home, '.config/systemd'), { recursive: true });
    fs.symlinkSync(system, join(home, '.config/systemd/user'));
    await withContext(async (ctx) => {
      await expect(installUnit.definition.prepare(args, ctx)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    });
    expect(fs.readdirSync(system)).toEqual([]);
  });

  it('a symlink swapped in between prepare and do is refused at do; nothing is written through it', async () => {
    aliceDir(join(home, '.config/systemd/user'));
    await withContext(async (ctx) => {
      const before = await installUnit.definition.prepare(args, ctx);
      fs.renameSync(join(home, '.config/systemd/user'), join(home, '.config/systemd/moved'));
      aliceLink(system, join(home, '.config/systemd/user'));
      await expect(installUnit.definition.do(args, before, ctx)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    });
    expect(fs.readdirSync(system)).toEqual([]);
    expect(fs.readdirSync(join(home, '.config/systemd/moved'))).toEqual([]);
  });

  it('the unit file and the directories made for it belong to the user; undo removes them again', async () => {
    aliceDir(join(home, '.config'));
    await withContext(async (ctx) => {
      const before = await installUnit.definition.prepare(args, ctx);
      expect(before.missing).toEqual([join(home, '.config/systemd/user'), join(home, '.config/systemd')]);
      await installUnit.definition.do(args, before, ctx);
      expect(fs.readFileSync(join(home, '.config/systemd/user/backup.service'), 'utf8')).toBe(content);
      expect(ownerAndMode(join(home, '.config/systemd/user/backup.service'))).toEqual({ uid: UID, gid: UID, mode: '644' });
      expect(ownerAndMode(join(home, '.config/systemd/user'))).toEqual({ uid: UID, gid: UID, mode: '755' });
      expect(ownerAndMode(join(home, '.config/systemd'))).toEqual({ uid: UID, gid: UID, mode: '755' });
      await installUnit.definition.verify!(args, before, { sha256: '' }, ctx);
      await installUnit.definition.undo(args, before, { sha256: '' }, ctx);
    });
    expect(fs.readdirSync(join(home, '.config'))).toEqual([]);
  });
});

describe('what the user can set on her own unit file does not strand a recovery', () => {
  const place: JournalPlace = { root: '/nonexistent', transactionDirectory: '/nonexistent/t', transactionId: 't', stepIndex: 0 };

  it('her unit file with set-id and sticky bits: recorded and put back without them, and recovery accepts the journal', async () => {
    aliceDir(join(home, '.config/systemd/user'));
    const unit = join(home, '.config/systemd/user/backup.service');
    fs.writeFileSync(unit, '[Service]\nExecStart=/bin/hers\n');
    fs.chownSync(unit, UID, UID);
    fs.chmodSync(unit, 0o7644);
    await withContext(async (ctx) => {
      const before = await installUnit.definition.prepare(args, ctx);
      expect(before.previous).toMatchObject({ kind: 'file', mode: 0o644, uid: UID });
      // What recovery would check of the journaled step, after a crash.
      expect(() => installUnit.definition.validateJournaled!(args, before, undefined, place)).not.toThrow();
      const after = await installUnit.definition.do(args, before, ctx);
      await installUnit.definition.undo(args, before, after, ctx);
    });
    expect(fs.readFileSync(unit, 'utf8')).toBe('[Service]\nExecStart=/bin/hers\n');
    expect(ownerAndMode(unit)).toEqual({ uid: UID, gid: UID, mode: '644' });
  });

  it('a unit directory, home or runtime directory ending in "/" is refused up front (recovery compares them as written)', () => {
    for (const key of ['unitDir', 'home', 'runtimeDir'] as const) {
      expect(() => installUnit.definition.validate!({ unit: 'backup.service', content, reload: false, scope: 'user', [key]: '/srv/units/' })).toThrow(/must not end with "\/"/);
    }
    expect(() => installUnit.definition.validate!({ unit: 'backup.service', content, reload: false, unitDir: '/srv/units' })).not.toThrow();
  });
});

describe('the directories made in the user\'s tree: mode and owner go to what was made, never through a swapped name', () => {
  // alice watches ~/.config with inotify and, the moment root's mkdir of ~/.config/systemd shows,
  // renames it away and puts something of hers there. The hook makes that race won every time.
  const swapAt = () => join(home, '.config/systemd');
  /** installUnit's do is refused with UNSAFE_PATH while, right after a mkdir made `swapAt` as root, `swap` runs once. */
  async function refusedWhileSwapped(swap: (realMkdir: (...args: unknown[]) => unknown) => void): Promise<void> {
    let swapped = false;
    const restore = replaceFsFunction('mkdirSync', (realMkdir) => (path: fs.PathLike, options?: fs.MakeDirectoryOptions | fs.Mode | null) => {
      const made = realMkdir(path, options) as string | undefined;
      // The mkdir goes through the parent's descriptor (/proc/self/fd/N/systemd): match on where it landed.
      if (!swapped && fs.existsSync(swapAt()) && fs.lstatSync(swapAt()).isDirectory() && fs.lstatSync(swapAt()).uid === 0) {
        swapped = true;
        fs.renameSync(swapAt(), join(home, '.config/moved'));
        swap(realMkdir);
      }
      return made;
    });
    try {
      await withContext(async (ctx) => {
        const before = await installUnit.definition.prepare(args, ctx);
        await expect(installUnit.definition.do(args, before, ctx)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
      });
    } finally {
      restore();
    }
    expect(swapped).toBe(true);
  }

  it('a symlink put in place of a directory right after its mkdir: the target keeps its owner and mode', async () => {
    aliceDir(join(home, '.config'));
    await refusedWhileSwapped(() => aliceLink(shadow, swapAt()));
    expect(ownerAndMode(shadow)).toEqual({ uid: 0, gid: 0, mode: '640' });
    expect(fs.readdirSync(system)).toEqual([]);
  });

  it('a symlink already in place of a directory prepare found missing is refused, not chowned through', async () => {
    aliceDir(join(home, '.config'));
    await withContext(async (ctx) => {
      const before = await installUnit.definition.prepare(args, ctx);
      aliceLink(shadow, join(home, '.config/systemd'));
      await expect(installUnit.definition.do(args, before, ctx)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    });
    expect(ownerAndMode(shadow)).toEqual({ uid: 0, gid: 0, mode: '640' });
  });

  it('a directory of the user\'s own put in place of a new one is left as it is', async () => {
    aliceDir(join(home, '.config'));
    await refusedWhileSwapped((realMkdir) => {
      realMkdir(swapAt(), { mode: 0o700 });
      fs.chownSync(swapAt(), UID, UID);
    });
    expect(ownerAndMode(swapAt())).toEqual({ uid: UID, gid: UID, mode: '700' });
  });
});

describe('enable, disable and mask in another user\'s scope', () => {
  for (const kind of [enable, disable, mask]) {
    it(`${kind.definition.type}: a symlinked unit directory is refused at prepare`, async () => {
      aliceDir(join(home, '.config/systemd'));
      fs.mkdirSync(join(system, 'default.target.wants'));
      aliceLink(system, join(home, '.config/systemd/user'));
      await withContext(async (ctx) => {
        await expect(kind.definition.prepare({ unit: 'backup.service', scope: { user: 'alice' } }, ctx)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
      });
    });
  }

  it('undo never removes through a unit directory swapped for a symlink since prepare', async () => {
    aliceDir(join(home, '.config/systemd/user'));
    await withContext(async (ctx) => {
      const a = { unit: 'backup.service', scope: { user: 'alice' } };
      const before = await enable.definition.prepare(a, ctx);
      fs.renameSync(join(home, '.config/systemd/user'), join(home, '.config/systemd/moved'));
      aliceLink(system, join(home, '.config/systemd/user'));
      fs.mkdirSync(join(system, 'empty.wants'));
      await expect(enable.definition.undo(a, before, undefined, ctx)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    });
    expect(fs.readdirSync(system)).toEqual(['empty.wants']);
  });
});
