import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError, makePrivateDirectory } from '@unwind/core';

/**
 * The machine's user database files that a prefix root copies.
 *
 * @example
 * ```ts
 * for (const f of DB_FILES) fs.readFileSync(join(root, 'etc', f));
 * ```
 */
export const DB_FILES = ['passwd', 'group', 'shadow', 'gshadow'] as const;

/**
 * A throw-away root the program acts on instead of the machine: the shadow
 * tools get `-P root`, homes live under `root/home`, linger files under
 * `root/var/lib/systemd/linger`.
 *
 * @example
 * ```ts
 * const sb = createSandbox('/tmp/destroy-sandbox', { user: 'alice', app: 'example-app' });
 * await destroyUser({ user: 'alice', app: 'example-app', destroyCommand: [sampleAppPath(sb.root, 'example-app'), 'destroy'], prefix: sb.root, journalRoot: sb.journalRoot });
 * ```
 */
export interface Sandbox {
  root: string;
  lingerDir: string;
  journalRoot: string;
}

/**
 * The fixed layout of a sandbox under `root` (nothing is created).
 *
 * @example
 * ```ts
 * sandboxLayout('/tmp/sb').lingerDir; // '/tmp/sb/var/lib/systemd/linger'
 * ```
 */
export function sandboxLayout(root: string): Sandbox {
  return { root, lingerDir: join(root, 'var/lib/systemd/linger'), journalRoot: join(root, 'var/lib/unwind-user-destroy') };
}

/**
 * Makes `root` a directory only root can change, or checks that the one
 * already there is (core's `makePrivateDirectory`: owned by the running
 * user, not writable by group or others, no ancestor another user can
 * change), then says what is in it. Throws `UnsafeDirectoryError` otherwise:
 * a directory another user made in /tmp, even an empty one, is theirs — a
 * copy of /etc/shadow made in it, or a sample application run from it, would
 * be in their hands. Call it before anything else touches `root`.
 *
 * @example
 * ```ts
 * const found = openSandboxRoot('/tmp/unwind-example-user-destroy'); // 'empty' when just made
 * ```
 */
export function openSandboxRoot(root: string): 'sandbox' | 'empty' | 'other' {
  makePrivateDirectory(root, 'sandbox root');
  if (isSandbox(root)) return 'sandbox';
  return fs.readdirSync(root).length === 0 ? 'empty' : 'other';
}

/**
 * Whether `root` looks like a sandbox made by {@link createSandbox}. Says
 * nothing about who made it: check that with {@link openSandboxRoot} first.
 *
 * @example
 * ```ts
 * if (!isSandbox(root)) createSandbox(root, { user: 'alice', app: 'example-app' });
 * ```
 */
export function isSandbox(root: string): boolean {
  return fs.existsSync(join(root, 'etc/passwd')) && fs.existsSync(join(root, 'etc/login.defs')) && fs.existsSync(sandboxLayout(root).lingerDir);
}

/** Live processes whose real or effective uid is `uid` (from /proc). */
function processesOf(uid: number): number {
  let n = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(fs.readFileSync(`/proc/${entry}/status`, 'utf8'));
      if (ids && (Number(ids[1]) === uid || Number(ids[2]) === uid)) n++;
    } catch {
      // ended while we looked
    }
  }
  return n;
}

/**
 * A uid that no account on this machine has and no process runs as, so the
 * sandbox user's processes (and only theirs) may be signalled.
 *
 * @example
 * ```ts
 * const uid = freeUid(); // e.g. 47311
 * ```
 */
export function freeUid(): number {
  const used = new Set(fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => Number(l.split(':')[2])));
  for (;;) {
    const uid = 47000 + Math.floor(Math.random() * 2000);
    if (!used.has(uid) && processesOf(uid) === 0) return uid;
  }
}

/**
 * Sample managed state: files, a nested directory, a symlink, odd modes, all owned by the user.
 *
 * @example
 * ```ts
 * seedState('/tmp/sb/home/alice/.config/example-app', 47001, 47001);
 * ```
 */
export function seedState(dir: string, uid: number, gid: number): void {
  fs.mkdirSync(join(dir, 'generations/1'), { recursive: true });
  fs.writeFileSync(join(dir, 'config.lua'), 'return { packages = { "ripgrep", "fd" } }\n');
  fs.writeFileSync(join(dir, 'state.db'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256)));
  fs.writeFileSync(join(dir, 'generations/1/manifest.json'), '{"generation":1}\n');
  fs.writeFileSync(join(dir, 'secret.key'), 'not a real key\n', { mode: 0o600 });
  fs.chmodSync(join(dir, 'secret.key'), 0o600);
  fs.symlinkSync('generations/1', join(dir, 'current'));
  for (const p of ['', 'generations', 'generations/1', 'config.lua', 'state.db', 'generations/1/manifest.json', 'secret.key', 'current']) fs.lchownSync(join(dir, p), uid, gid);
}

/**
 * Creates a sandbox at `root`: copies of the machine's passwd, group,
 * shadow, gshadow and login.defs, a user made by the real `useradd -P` with
 * a home under `root/home`, sample managed state in `~/.config/<app>`
 * owned by the user, and a linger file.
 *
 * @example
 * ```ts
 * const sb = createSandbox(fs.mkdtempSync('/tmp/destroy-'), { user: 'alice', app: 'example-app' });
 * ```
 */
export function createSandbox(root: string, options: { user: string; app: string; uid?: number }): Sandbox & { uid: number; home: string; stateDir: string; dataDir: string } {
  const sb = sandboxLayout(root);
  // Never into a directory another user can change: the copy of /etc/shadow goes here.
  makePrivateDirectory(root, 'sandbox root');
  // The prefix root stands for `/`: the user must be able to reach their home through it (mkdtemp makes 0700).
  fs.chmodSync(root, 0o755);
  fs.mkdirSync(join(root, 'etc'), { recursive: true });
  fs.mkdirSync(join(root, 'home'), { recursive: true });
  for (const f of [...DB_FILES, 'login.defs']) {
    const target = join(root, 'etc', f);
    fs.copyFileSync(`/etc/${f}`, target);
    const st = fs.statSync(`/etc/${f}`);
    fs.chmodSync(target, st.mode & 0o7777);
    if (process.getuid?.() === 0) fs.chownSync(target, st.uid, st.gid);
  }
  fs.mkdirSync(sb.lingerDir, { recursive: true });
  const uid = options.uid ?? freeUid();
  const home = join('/home', options.user);
  // -l: with -P, useradd would still write this machine's own lastlog and faillog.
  execFileSync('useradd', ['-P', root, '-l', '-m', '-d', home, '-u', String(uid), '-s', '/bin/sh', options.user], { stdio: ['ignore', 'ignore', 'pipe'] });
  const gid = fs.statSync(join(root, home)).gid;
  const config = join(root, home, '.config');
  fs.mkdirSync(config, { recursive: true });
  fs.chownSync(config, uid, gid);
  const stateDir = join(config, options.app);
  seedState(stateDir, uid, gid);
  const dataDir = join(root, home, '.local', 'share', options.app);
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(join(dataDir, 'history.log'), 'generation 1 applied\n');
  for (const p of ['.local', '.local/share', `.local/share/${options.app}`, `.local/share/${options.app}/history.log`]) fs.lchownSync(join(root, home, p), uid, gid);
  installSampleApp(root, options.app);
  fs.writeFileSync(join(sb.lingerDir, options.user), '');
  return { ...sb, uid, home, stateDir, dataDir };
}

/**
 * Where the sandbox's sample application lives: `<root>/usr/local/bin/<app>`.
 *
 * @example
 * ```ts
 * const destroyCommand = [sampleAppPath('/tmp/sb', 'example-app'), 'destroy'];
 * ```
 */
export function sampleAppPath(root: string, app: string): string {
  return join(root, 'usr', 'local', 'bin', app);
}

/**
 * Installs the sample application: a program whose `destroy` removes its
 * own state (`~/.config/APP`, `~/.local/share/APP`), standing in for an
 * application's own destroy command such as syslua's `sys destroy`.
 * `destroy --fail-halfway` removes the first and then fails (exit 3), as a
 * destroy that breaks in the middle does.
 *
 * @example
 * ```ts
 * installSampleApp('/tmp/sb', 'example-app');
 * ```
 */
export function installSampleApp(root: string, app: string): void {
  // The name goes into the program's text: only plain names.
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(app)) throw new InvalidInputError(`${JSON.stringify(app)} is not an application name`, { app });
  const path = sampleAppPath(root, app);
  fs.mkdirSync(join(path, '..'), { recursive: true, mode: 0o755 });
  for (const dir of ['usr', 'usr/local', 'usr/local/bin']) fs.chmodSync(join(root, dir), 0o755);
  fs.writeFileSync(
    path,
    [
      '#!/bin/sh',
      `# ${app}: the sample application of the user-destroy example. "destroy" removes what it manages.`,
      'set -eu',
      'if [ "${1:-}" != destroy ]; then echo "usage: $0 destroy [--fail-halfway]" >&2; exit 64; fi',
      `rm -rf -- "$HOME/.config/${app}"`,
      'if [ "${2:-}" = --fail-halfway ]; then echo "destroy failed half-way: the data directory is still there" >&2; exit 3; fi',
      `rm -rf -- "$HOME/.local/share/${app}"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  fs.chmodSync(path, 0o755);
}
