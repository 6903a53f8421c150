// Quadlet units (podman's .container, .volume, .network, .kube files) for a
// user's manager: the file goes to ~/.config/containers/systemd/, the user's
// manager is reloaded so podman's generator turns it into a .service, and the
// generated unit must then be loaded — else the generator rejected the file,
// and the whole install rolls back with the generator's own message.
import * as fs from 'node:fs';
import { basename, extname, join } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, UnwindError, defaultEnv, defineStep, validateAbsolutePath, type ResultReader, type Step } from '@unwind/core';
import { ensureDir, writeFile } from '@unwind/files';
import { daemonReload, unitState } from '@unwind/systemd';

/**
 * The directories a user manager runs generators from, first match wins (systemd.generator(7)).
 *
 * @example
 * ```ts
 * findQuadletGenerator(USER_GENERATOR_DIRS); // '/usr/lib/systemd/user-generators/podman-user-generator'
 * ```
 */
export const USER_GENERATOR_DIRS = ['/run/systemd/user-generators', '/etc/systemd/user-generators', '/usr/local/lib/systemd/user-generators', '/usr/lib/systemd/user-generators'] as const;

/** The name podman (4.4 and later) installs its Quadlet generator under, for user managers. */
const GENERATOR_NAME = 'podman-user-generator';

/**
 * The unit Quadlet generates from a Quadlet file: `web.container` and
 * `web.kube` give `web.service`, `data.volume` gives `data-volume.service`,
 * `net.network` gives `net-network.service`.
 *
 * @example
 * ```ts
 * generatedUnit('data.volume'); // 'data-volume.service'
 * ```
 */
export function generatedUnit(file: string): string {
  const extension = extname(file);
  const base = basename(file, extension);
  switch (extension) {
    case '.container':
    case '.kube':
      return `${base}.service`;
    case '.volume':
      return `${base}-volume.service`;
    case '.network':
      return `${base}-network.service`;
    default:
      throw new InvalidInputError(`${file} is not a Quadlet file (.container, .volume, .network or .kube)`, { file });
  }
}

/**
 * No Quadlet generator on this host (podman older than 4.4 — Debian 12 ships
 * 4.3 — or no podman): a Quadlet file would never become a unit. Code
 * QUADLET_UNAVAILABLE; nothing was changed.
 *
 * @example
 * ```ts
 * if (error instanceof QuadletUnavailableError) console.error(error.context.searched);
 * ```
 */
export class QuadletUnavailableError extends UnwindError<'QUADLET_UNAVAILABLE'> {
  constructor(searched: readonly string[]) {
    super('QUADLET_UNAVAILABLE', `no Quadlet generator (${GENERATOR_NAME}) in ${searched.join(', ')}: Quadlet needs podman 4.4 or later (Debian 12 ships 4.3); nothing was changed`, { context: { searched: [...searched] } });
  }
}

/**
 * The generator did not turn a Quadlet file into a unit; the message is the generator's own. Code QUADLET_REJECTED.
 *
 * @example
 * ```ts
 * if (error instanceof QuadletRejectedError) console.error(error.context.generatorMessage);
 * ```
 */
export class QuadletRejectedError extends UnwindError<'QUADLET_REJECTED'> {
  constructor(file: string, unit: string, generatorMessage: string) {
    super('QUADLET_REJECTED', `the Quadlet generator rejected ${file}: no ${unit} was generated${generatorMessage ? `: ${generatorMessage}` : ''}`, { context: { file, unit, generatorMessage } });
  }
}

/**
 * The Quadlet generator a user manager would run, or undefined.
 *
 * @example
 * ```ts
 * if (!findQuadletGenerator()) throw new QuadletUnavailableError(USER_GENERATOR_DIRS);
 * ```
 */
export function findQuadletGenerator(dirs: readonly string[] = USER_GENERATOR_DIRS): string | undefined {
  return dirs.map((d) => join(d, GENERATOR_NAME)).find((p) => fs.existsSync(p));
}

const GeneratedArgs = t.intersection([
  t.type({ user: t.string, uid: t.number, gid: t.number, home: t.string, file: t.string }),
  t.partial({
    generatorDirs: t.array(t.string),
    /** Only refuse when no generator exists (the first step, before any change); check nothing after. */
    presenceOnly: t.boolean,
  }),
]);

/**
 * A read-only step: `prepare` refuses when no Quadlet generator exists
 * ({@link QuadletUnavailableError}); `verify` checks that the user's manager
 * has loaded the unit generated from `file`, and if not runs the generator
 * in dry-run mode as the user to quote why ({@link QuadletRejectedError}).
 *
 * @example
 * ```ts
 * tx.add(quadletGenerated({ user: 'web', uid: 1001, gid: 1001, home: '/home/web', file: '/home/web/.config/containers/systemd/web.container' }));
 * ```
 */
export const quadletGenerated = defineStep({
  type: 'containers.quadletGenerated',
  package: '@unwind/example-container-reconciler',
  args: GeneratedArgs,
  before: t.type({ generator: t.string }),
  validate: (a) => {
    validateAbsolutePath(a.file, { what: 'Quadlet file' });
    validateAbsolutePath(a.home, { what: 'home' });
    generatedUnit(a.file);
    if (!Number.isInteger(a.uid) || a.uid <= 0) throw new InvalidInputError(`uid ${a.uid} is not a user's`, { uid: a.uid });
  },
  describe: (a) => (a.presenceOnly ? `check that a Quadlet generator exists for ${a.file}` : `check that ${a.user}'s manager generated ${generatedUnit(a.file)} from ${a.file}`),
  prepare: async (a) => {
    const dirs = a.generatorDirs ?? USER_GENERATOR_DIRS;
    const generator = findQuadletGenerator(dirs);
    if (!generator) throw new QuadletUnavailableError(dirs);
    return { generator };
  },
  do: async () => {},
  verify: async (a, before, _after, ctx) => {
    if (a.presenceOnly) return;
    const unit = generatedUnit(a.file);
    const state = await unitState(unit, { user: a.user }, { exec: ctx.exec, signal: ctx.signal });
    if (state.loadState === 'loaded') return;
    // The generator's reasons went to the manager's log; ask it again, in dry-run mode, as the user.
    const dry = await ctx.exec({
      argv: ['setpriv', `--reuid=${a.uid}`, `--regid=${a.gid}`, '--clear-groups', '--', before.generator, '-user', '-dryrun'],
      env: { ...defaultEnv(), HOME: a.home, USER: a.user, XDG_RUNTIME_DIR: `/run/user/${a.uid}` },
      cwd: a.home,
      okExitCodes: [0, 1],
      timeoutMs: 30_000,
      signal: ctx.signal,
    });
    throw new QuadletRejectedError(a.file, unit, dry.stderr.trim().split('\n').filter((l) => l.includes(basename(a.file))).join('; ') || dry.stderr.trim());
  },
  undo: async () => {},
});

/** Whose the files are: the user's ids and home, or how to read them from an earlier step (the user's creation). */
export type QuadletOwner = { uid: number; gid: number; home: string };

/**
 * The steps that install Quadlet files for a user: a check that a generator
 * exists, a reload first (its undo reloads last, after the files are gone,
 * so the generated units go too), the directory and each file (owned by the
 * user), a reload so the generator runs, and the check that each unit was
 * generated. `owner` may be read from an earlier step's result.
 *
 * @example
 * ```ts
 * for (const step of quadletSteps({ user: 'web', files: [{ file: 'web.container', content }] }, { uid: 1001, gid: 1001, home: '/home/web' })) tx.add(step);
 * ```
 */
export function quadletSteps(
  options: { user: string; files: ReadonlyArray<{ file: string; content: string }>; generatorDirs?: string[] },
  owner: QuadletOwner | ((get: ResultReader) => QuadletOwner),
): Array<Step<any, any, any>> {
  if (options.files.length === 0) throw new InvalidInputError('no Quadlet file to install', { user: options.user });
  for (const { file } of options.files) {
    if (file.includes('/') || file.startsWith('.')) throw new InvalidInputError(`${file} is not a plain file name`, { file });
    generatedUnit(file);
  }
  const resolve = typeof owner === 'function' ? owner : () => owner;
  const dirOf = (home: string) => join(home, '.config', 'containers', 'systemd');
  const generators = options.generatorDirs ? { generatorDirs: options.generatorDirs } : {};
  const checked = (file: string, presenceOnly: boolean) => (get: ResultReader) => {
    const o = resolve(get);
    return { user: options.user, uid: o.uid, gid: o.gid, home: o.home, file: join(dirOf(o.home), file), ...(presenceOnly ? { presenceOnly } : {}), ...generators };
  };
  const directory = (path: (home: string) => string, label?: string) =>
    ensureDir((get) => {
      const o = resolve(get);
      return { path: path(o.home), mode: 0o755, uid: o.uid, gid: o.gid };
    }, label ? { label } : {});
  const scope = { user: options.user };
  return [
    quadletGenerated(checked(options.files[0]!.file, true), { label: 'Quadlet generator present' }),
    daemonReload({ scope }, { label: 'reload (undone last)' }),
    directory((home) => join(home, '.config')),
    directory((home) => join(home, '.config', 'containers')),
    directory(dirOf, 'Quadlet directory'),
    ...options.files.map(({ file, content }) =>
      writeFile((get) => {
        const o = resolve(get);
        return { path: join(dirOf(o.home), file), content, mode: 0o644, uid: o.uid, gid: o.gid };
      }, { label: `Quadlet file ${file}` }),
    ),
    daemonReload({ scope }, { label: 'reload: the generator runs' }),
    ...options.files.map(({ file }) => quadletGenerated(checked(file, false), { label: `${generatedUnit(file)} generated` })),
  ];
}
