import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, NonRetryableError, VerificationError, defineStep, validateAbsolutePath } from '@unwind/core';
import { hashFile, validateArtifactName } from './format.js';

const FetchArgs = t.type({
  /** The release to fetch from: a local directory (stands in for the network). */
  source: t.string,
  /** The temp workspace to fetch into; must not exist yet. */
  workspace: t.string,
  /** What to fetch; a given sha256 must match the fetched bytes. */
  artifacts: t.array(t.intersection([t.type({ name: t.string }), t.partial({ sha256: t.string })])),
});

const Fetched = t.type({ files: t.array(t.type({ name: t.string, sha256: t.string, size: t.number })) });

/**
 * What {@link fetchArtifacts} fetched: each artifact's hash and size, as the later steps read it.
 *
 * @example
 * ```ts
 * tx.add(writeFile((get) => ({ path: lockPath, content: renderLock(get(fetched).files) })));
 * ```
 */
export type Fetched = t.TypeOf<typeof Fetched>;

function removeWorkspace(workspace: string): void {
  fs.rmSync(workspace, { recursive: true, force: true });
}

/**
 * Fetches a release's artifacts into a fresh temp workspace (0700), checking
 * each against the release index's sha256 where it gives one. Nothing under
 * the collection changes here. `undo` and `commit` both remove the workspace,
 * so recovery after a crash cleans it up too (the program's `tx.finally`
 * removes it on every ending of a live run).
 *
 * @example
 * ```ts
 * const fetched = tx.add(fetchArtifacts({ source: '/srv/releases/1.1.0', workspace: '/tmp/update-x', artifacts: [{ name: 'skills/review.md' }] }));
 * ```
 */
export const fetchArtifacts = defineStep({
  type: 'collection.fetch',
  package: '@unwind/example-collection-update',
  args: FetchArgs,
  before: t.type({ workspace: t.string }),
  after: Fetched,
  validate: (a) => {
    validateAbsolutePath(a.source, { what: 'release source' });
    validateAbsolutePath(a.workspace, { what: 'workspace' });
    if (a.artifacts.length === 0) throw new InvalidInputError('a release with no artifacts has nothing to fetch', {});
    for (const x of a.artifacts) validateArtifactName(x.name);
  },
  describe: (a) => `fetch ${a.artifacts.length} artifact(s) from ${a.source} into ${a.workspace}`,
  prepare: async (a) => {
    // Read-only: every artifact is there and is a plain file; the workspace is new.
    for (const x of a.artifacts) {
      const st = fs.lstatSync(join(a.source, x.name), { throwIfNoEntry: false });
      if (!st?.isFile()) throw new NonRetryableError(new Error(`the release at ${a.source} has no file ${x.name}`));
    }
    if (fs.existsSync(a.workspace)) throw new NonRetryableError(new Error(`workspace ${a.workspace} already exists; refusing to reuse it`));
    return { workspace: a.workspace };
  },
  do: async (a, before, ctx) => {
    fs.mkdirSync(before.workspace, { mode: 0o700 });
    const files: Fetched['files'] = [];
    for (const x of a.artifacts) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const target = join(before.workspace, x.name);
      fs.mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      fs.copyFileSync(join(a.source, x.name), target, fs.constants.COPYFILE_EXCL);
      const sha256 = hashFile(target);
      if (x.sha256 !== undefined && x.sha256 !== sha256) {
        throw new NonRetryableError(new Error(`${x.name} from ${a.source} is corrupt: sha256 ${sha256}, the release index says ${x.sha256}`));
      }
      files.push({ name: x.name, sha256, size: fs.statSync(target).size });
    }
    return { files };
  },
  verify: async (_a, before, after) => {
    for (const f of after.files) {
      const path = join(before.workspace, f.name);
      if (!fs.existsSync(path) || hashFile(path) !== f.sha256) throw new VerificationError(`fetched ${f.name} is missing or changed in ${before.workspace}`, { path });
    }
  },
  undo: async (_a, before) => removeWorkspace(before.workspace),
  verifyUndo: async (_a, before) => {
    if (fs.existsSync(before.workspace)) throw new VerificationError(`workspace ${before.workspace} is still there`, { path: before.workspace });
  },
  commit: async (_a, before) => removeWorkspace(before.workspace),
});
