import * as fs from 'node:fs';
import { join } from 'node:path';
import { makePrivateDirectory } from '@unwind/core';

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
 * A throw-away root the installer acts on instead of the machine: the shadow
 * tools get `-P root`, linger lives in `root/var/lib/systemd/linger` and is
 * changed by a stub `loginctl`, the config goes to `root/etc/<name>/`.
 *
 * @example
 * ```ts
 * const sb = createSandbox('/tmp/installer-sandbox');
 * await install({ name: 'hello', ...sandboxTargets(sb), manager, journalRoot: sb.journalRoot });
 * ```
 */
export interface Sandbox {
  /** The prefix root. */
  root: string;
  lingerDir: string;
  /** The stub loginctl: creates or removes the linger file under `lingerDir`, nothing else. */
  loginctl: string;
  /** Where the installer's journal goes. */
  journalRoot: string;
  /** Home and runtime directory of a sandbox systemd user manager, when the CLI starts one. */
  managerHome: string;
  managerRuntimeDir: string;
}

/**
 * The fixed layout of a sandbox under `root` (nothing is created).
 *
 * @example
 * ```ts
 * sandboxLayout('/tmp/sb').journalRoot; // '/tmp/sb/var/lib/unwind-service-installer'
 * ```
 */
export function sandboxLayout(root: string): Sandbox {
  return {
    root,
    lingerDir: join(root, 'var/lib/systemd/linger'),
    loginctl: join(root, 'usr/bin/loginctl'),
    journalRoot: join(root, 'var/lib/unwind-service-installer'),
    managerHome: join(root, 'manager/home'),
    managerRuntimeDir: join(root, 'manager/run'),
  };
}

/** The stub: logind does not run here; linger's lasting effect is the file. */
function stubLoginctl(lingerDir: string): string {
  const q = `'${lingerDir.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh
# Stand-in for loginctl inside an unwind sandbox: edits only ${lingerDir}.
case "$2" in ''|*/*|.*) echo "stub loginctl: bad user name '$2'" >&2; exit 1 ;; esac
case "$1" in
  enable-linger) : > ${q}/"$2" ;;
  disable-linger) rm -f ${q}/"$2" ;;
  *) echo "stub loginctl: unknown verb $1" >&2; exit 1 ;;
esac
`;
}

/**
 * Creates a sandbox at `root` (which must not exist yet, or be empty): copies
 * of the machine's passwd, group, shadow, gshadow and login.defs with their
 * modes and owners, an empty linger directory and the stub loginctl.
 *
 * @example
 * ```ts
 * const sb = createSandbox(fs.mkdtempSync('/tmp/installer-'));
 * ```
 */
export function createSandbox(root: string): Sandbox {
  const sb = sandboxLayout(root);
  // Never into a directory another user can change: they could swap what is copied or run from here.
  makePrivateDirectory(root, 'sandbox root');
  fs.mkdirSync(join(root, 'etc'), { recursive: true });
  for (const f of [...DB_FILES, 'login.defs']) {
    const target = join(root, 'etc', f);
    fs.copyFileSync(`/etc/${f}`, target);
    const st = fs.statSync(`/etc/${f}`);
    fs.chmodSync(target, st.mode & 0o7777);
    if (process.getuid?.() === 0) fs.chownSync(target, st.uid, st.gid);
  }
  fs.mkdirSync(sb.lingerDir, { recursive: true });
  fs.mkdirSync(join(root, 'usr/bin'), { recursive: true });
  fs.writeFileSync(sb.loginctl, stubLoginctl(sb.lingerDir), { mode: 0o755 });
  return sb;
}

/**
 * Makes `root` a directory private to the running user (root), or checks
 * that the one already there is (core's `makePrivateDirectory`: owned by us,
 * not writable by group or others, no ancestor another user can change),
 * then says what is in it. Throws `UnsafeDirectoryError` otherwise: a
 * directory someone else made in /tmp may hold their passwd, their
 * `loginctl` or their units, and nothing in it may be read or run as root.
 * Call it before anything else touches `root`.
 *
 * @example
 * ```ts
 * const found = openSandboxRoot('/tmp/unwind-example-service-installer');
 * const sb = found === 'sandbox' ? sandboxLayout(root) : createSandbox(root); // found 'other': refuse
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
 * const sb = isSandbox(root) ? sandboxLayout(root) : createSandbox(root);
 * ```
 */
export function isSandbox(root: string): boolean {
  const sb = sandboxLayout(root);
  return fs.existsSync(join(root, 'etc/passwd')) && fs.existsSync(sb.loginctl) && fs.existsSync(sb.lingerDir);
}
