// The sandbox a user can try the reconciler in, changing nothing of the
// machine: users and groups in a prefix root (the real shadow tools with -P),
// linger through a stub loginctl that edits only the sandbox, the per-user
// managers (user@UID.service) through a stub systemctl that keeps their state
// as files, and the containers' units on one private `systemd --user` run for
// the length of the command (in a private mount namespace).
import * as fs from 'node:fs';
import { join } from 'node:path';
import { makePrivateDirectory } from '@unwind/core';
import type { ReconcilerConfig } from './reconciler.js';

/**
 * The paths of a sandbox rooted at `root`.
 *
 * @example
 * ```ts
 * sandboxLayout('/tmp/unwind-example-containers').desiredDir; // '/tmp/unwind-example-containers/desired'
 * ```
 */
export function sandboxLayout(root: string) {
  const prefix = join(root, 'root');
  return {
    root,
    prefix,
    lingerDir: join(prefix, 'var/lib/systemd/linger'),
    desiredDir: join(root, 'desired'),
    stateDir: join(root, 'state'),
    managersDir: join(root, 'system-manager'),
    loginctl: join(root, 'bin/loginctl'),
    systemctl: join(root, 'bin/systemctl'),
    manager: { home: join(root, 'manager/home'), runtimeDir: join(root, 'manager/run') },
  };
}
/** The paths of a sandbox. */
export type SandboxLayout = ReturnType<typeof sandboxLayout>;

const DATABASE = ['passwd', 'group', 'shadow', 'gshadow', 'login.defs'] as const;

/**
 * A stand-in for loginctl that only creates and removes files in `lingerDir`.
 *
 * @example
 * ```ts
 * fs.writeFileSync(layout.loginctl, stubLoginctl(layout.lingerDir), { mode: 0o755 });
 * ```
 */
export function stubLoginctl(lingerDir: string): string {
  return `#!/bin/sh
# Stand-in for loginctl inside a container-reconciler sandbox: edits only ${lingerDir}.
case "$2" in ''|*/*|.*) echo "stub loginctl: bad user name '$2'" >&2; exit 1 ;; esac
case "$1" in
  enable-linger) : > '${lingerDir}'/"$2" ;;
  disable-linger) rm -f '${lingerDir}'/"$2" ;;
  *) echo "stub loginctl: unknown verb $1" >&2; exit 1 ;;
esac
`;
}

/**
 * A stand-in for the system manager's systemctl that answers only for
 * `user@UID.service` (what starting and checking a user's manager asks),
 * keeping each one's state as a file in `managersDir` and logging every call.
 *
 * @example
 * ```ts
 * fs.writeFileSync(layout.systemctl, stubSystemctl(layout.managersDir), { mode: 0o755 });
 * ```
 */
export function stubSystemctl(managersDir: string): string {
  return `#!/bin/sh
state='${managersDir}'
echo "$*" >> "$state/calls.log"
for a; do last="$a"; done
case " $* " in
  *" is-system-running "*) echo running; exit 0 ;;
esac
case "$last" in user@[0-9]*.service) ;; *) echo "stub systemctl: only user@UID.service units: $*" >&2; exit 1 ;; esac
case " $* " in
  *" show "*) if [ -e "$state/$last" ]; then printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\n'; else printf 'LoadState=loaded\\nActiveState=inactive\\nSubState=dead\\n'; fi; echo UnitFileState=static ;;
  *" start "*) : > "$state/$last" ;;
  *" stop "*) rm -f "$state/$last" ;;
  *" reset-failed "*) ;;
  *) echo "stub systemctl: unsupported: $*" >&2; exit 1 ;;
esac
`;
}

/**
 * Makes `root` a directory private to the running user (root), or checks
 * that the one already there is (core's `makePrivateDirectory`: owned by us,
 * not writable by group or others, no ancestor another user can change).
 * Throws `UnsafeDirectoryError` otherwise: a directory another user made in
 * /tmp may hold their passwd, their stub `loginctl`/`systemctl` or their
 * units, which the sandbox would read and run as root. Call it before
 * anything else touches `root`.
 *
 * @example
 * ```ts
 * assertSandboxRoot('/tmp/unwind-example-containers'); // made 0700 if missing
 * ```
 */
export function assertSandboxRoot(root: string): void {
  makePrivateDirectory(root, 'sandbox root');
}

/**
 * Whether `root` is a sandbox this program made. Says nothing about who
 * made it: check that with {@link assertSandboxRoot} first.
 *
 * @example
 * ```ts
 * if (fs.existsSync(root) && !isSandbox(root)) throw new Error(`${root} is not a sandbox`);
 * ```
 */
export function isSandbox(root: string): boolean {
  const l = sandboxLayout(root);
  return fs.existsSync(join(l.prefix, 'etc/passwd')) && fs.existsSync(l.loginctl) && fs.existsSync(l.systemctl);
}

/**
 * Makes a sandbox at `root`: copies of the machine's user database (modes
 * kept), empty homes and linger directory, the two stubs, and a desired
 * directory with two sample containers (`hello` and `clock`, each a unit
 * that sleeps). Changes nothing outside `root`.
 *
 * @example
 * ```ts
 * const layout = createSandbox('/tmp/unwind-example-containers');
 * ```
 */
export function createSandbox(root: string): SandboxLayout {
  const l = sandboxLayout(root);
  // Never into a directory another user can change: they could swap what is copied or run from here.
  assertSandboxRoot(root);
  for (const dir of [join(l.prefix, 'etc'), join(l.prefix, 'home'), l.lingerDir, l.desiredDir, l.managersDir, join(root, 'bin')]) fs.mkdirSync(dir, { recursive: true });
  for (const f of DATABASE) {
    fs.copyFileSync(`/etc/${f}`, join(l.prefix, 'etc', f));
    fs.chmodSync(join(l.prefix, 'etc', f), fs.statSync(`/etc/${f}`).mode & 0o7777);
  }
  fs.writeFileSync(l.loginctl, stubLoginctl(l.lingerDir), { mode: 0o755 });
  fs.writeFileSync(l.systemctl, stubSystemctl(l.managersDir), { mode: 0o755 });
  for (const name of ['hello', 'clock']) fs.writeFileSync(join(l.desiredDir, `${name}.service`), `[Unit]\nDescription=sample container ${name}\n\n[Service]\nExecStart=/bin/sleep infinity\n`);
  return l;
}

/**
 * The reconciler's configuration for a sandbox whose private user manager runs at `layout.manager`.
 *
 * @example
 * ```ts
 * const report = await reconcileContainers({ ...sandboxConfig(layout), settleMs: 300 });
 * ```
 */
export function sandboxConfig(l: SandboxLayout): ReconcilerConfig {
  return {
    desiredDir: l.desiredDir,
    stateDir: l.stateDir,
    prefix: l.prefix,
    lingerDir: l.lingerDir,
    loginctl: l.loginctl,
    systemSystemctl: l.systemctl,
    target: { kind: 'shared', manager: { scope: 'user', home: l.manager.home, runtimeDir: l.manager.runtimeDir, unitDir: join(l.manager.home, '.config/systemd/user') } },
  };
}
