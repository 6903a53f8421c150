// The reconciler's command line inside a throw-away machine, on quadlet-deploy's inputs: a
// local bare git repository (the real `git`) holding the desired state, a work clone the test
// commits and pushes from, a transform directory, and the test Quadlet generator (podman 4.3,
// what Debian 12 ships, has none). Shared by the machine tests of the command line.
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import type { Machine } from '@unwind/core/testing';

export const repoRoot = resolve(import.meta.dirname, '../../..');
export const main = join(import.meta.dirname, '..', 'src', 'main.ts');
const generator = join(import.meta.dirname, '..', 'stand-in', 'test-quadlet-generator.sh');
export const GENERATOR_PATH = '/usr/lib/systemd/user-generators/podman-user-generator';
export const REPOSITORY = '/srv/desired.git';
const WORK = '/srv/desired-work';
export const TRANSFORMS = '/etc/container-reconciler/transforms';

/** A Quadlet `.container` running a sleep (the test generator runs `Exec=` without podman), enabled through `[Install]`. */
export const container = (name: string, extra = '') => `[Unit]\nDescription=${name}\n\n[Container]\nImage=docker.io/library/nginx:1.27\nExec=/bin/sleep infinity\n${extra}\n[Install]\nWantedBy=default.target\n`;

/** The commands a machine test of the command line needs, bound to one machine. */
export function inMachine(machine: Machine) {
  const ok = (argv: string[], cwd = '/') => {
    const r = machine.run(argv, { cwd });
    expect(r.status, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout.trim();
  };
  const write = (path: string, content: string) => {
    const r = machine.run(['sh', '-c', 'mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"', 'sh', path, content]);
    expect(r.status, r.stderr).toBe(0);
  };
  return {
    ok,
    write,
    /** The bare repository and its work clone, and quadlet-deploy's tailscale transform in shape: a label prepended, enabled through [Install]. */
    setUp() {
      ok(['git', 'init', '--quiet', '--bare', '--initial-branch=main', REPOSITORY]);
      ok(['git', 'clone', '--quiet', REPOSITORY, WORK]);
      write(join(TRANSFORMS, 'tailnet.container'), '[Container]\n+Label=tailnet=yes\nNetwork=none\n\n[Install]\nWantedBy=default.target\n');
    },
    /** Installs the test Quadlet generator where the user managers run generators from. */
    installGenerator: () => ok(['install', '-m', '755', generator, GENERATOR_PATH]),
    /** Commits the given files (null: deleted) to the desired repository's main branch; returns the commit's tree. */
    commit(files: Record<string, string | null>) {
      for (const [path, content] of Object.entries(files)) {
        if (content === null) ok(['rm', '-f', join(WORK, path)]);
        else write(join(WORK, path), content);
      }
      ok(['git', 'add', '-A'], WORK);
      ok(['git', '-c', 'user.name=ops', '-c', 'user.email=ops@example.org', 'commit', '--quiet', '--allow-empty', '-m', 'desired state'], WORK);
      ok(['git', 'push', '--quiet', 'origin', 'main'], WORK);
      return ok(['git', 'rev-parse', 'HEAD^{tree}'], WORK);
    },
    /** `systemctl --user` on a user's own manager. */
    userctl: (user: string, ...args: string[]) => machine.run(['systemctl', '--user', '-M', `${user}@`, ...args]).stdout.trim(),
    exists: (user: string) => machine.run(['id', user]).status === 0,
  };
}

/** The sync options of the machine tests: the repository, a state directory, the transforms, the privilege group. */
export const syncOptions = (state: string) => ['--repository', REPOSITORY, '--state', state, '--transforms', TRANSFORMS, '--privilege-group', 'mint-key', '--settle', '300'];
