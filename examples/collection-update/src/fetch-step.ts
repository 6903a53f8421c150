import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, NonRetryableError, VerificationError, defineStep, validateAbsolutePath } from '@unwind/core';
import { contentHash } from './content-hash.js';
import { validateArtifactPath } from './format.js';

const FetchArgs = t.type({
  /** The local upstream directory to fetch from (stands in for the network). */
  source: t.string,
  /** The temp workspace to fetch into; must not exist yet. */
  workspace: t.string,
  /** What to fetch: `key` (name::type) names it in the workspace, `from` is its path in the source; a given content_hash must match. */
  artifacts: t.array(t.intersection([t.type({ key: t.string, from: t.string }), t.partial({ content_hash: t.string })])),
});

const Fetched = t.type({ files: t.array(t.type({ key: t.string, content_hash: t.string })) });

/**
 * What {@link fetchArtifacts} fetched: each artifact's hash and size, as the later steps read it.
 *
 * @example
 * ```ts
 * tx.add(writeFile((get) => ({ path: lockPath, content: lockWith(get(fetched).files) })));
 * ```
 */
export type Fetched = t.TypeOf<typeof Fetched>;

function removeWorkspace(workspace: string): void {
  fs.rmSync(workspace, { recursive: true, force: true });
}

/** Copies a file or a tree of plain files and directories, keeping modes. */
function copyContent(from: string, to: string): void {
  const st = fs.lstatSync(from);
  if (st.isDirectory()) {
    fs.mkdirSync(to, { mode: 0o700 });
    for (const name of fs.readdirSync(from)) copyContent(join(from, name), join(to, name));
  } else if (st.isFile()) fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
  else throw new NonRetryableError(new Error(`${from} is not a plain file or directory; refusing to fetch it`));
  fs.chmodSync(to, st.mode & 0o7777);
}

/**
 * Where an artifact is fetched to inside the workspace.
 *
 * @example
 * ```ts
 * fetchedPath('/srv/update-x', 'canvas-design::skill'); // '/srv/update-x/canvas-design::skill'
 * ```
 */
export function fetchedPath(workspace: string, key: string): string {
  return join(workspace, key);
}

/**
 * Fetches artifacts (files or directories) from a local upstream directory
 * into a fresh temp workspace (0700), each as `<workspace>/<name::type>`,
 * checking each against the index's content_hash where it gives one. Nothing under
 * the collection changes here. `undo` and `commit` both remove the workspace,
 * so recovery after a crash cleans it up too (the program's `tx.finally`
 * removes it on every ending of a live run).
 *
 * @example
 * ```ts
 * const fetched = tx.add(fetchArtifacts({ source: '/srv/upstream', workspace: '/srv/update-x', artifacts: [{ key: 'canvas-design::skill', from: 'canvas-design' }] }));
 * ```
 */
export const fetchArtifacts = defineStep({
  type: 'collection.fetch',
  package: '@unwind/example-collection-update',
  args: FetchArgs,
  before: t.type({ workspace: t.string }),
  after: Fetched,
  validate: (a) => {
    validateAbsolutePath(a.source, { what: 'upstream directory' });
    validateAbsolutePath(a.workspace, { what: 'workspace' });
    if (a.artifacts.length === 0) throw new InvalidInputError('nothing to fetch', {});
    for (const x of a.artifacts) {
      validateArtifactPath(x.from);
      if (!/^[^/:\0]+::[a-z_]+$/.test(x.key) || x.key.startsWith('.')) throw new InvalidInputError(`"${x.key}" is not a name::type key`, { key: x.key });
    }
  },
  describe: (a) => `fetch ${a.artifacts.length} artifact(s) from ${a.source} into ${a.workspace}`,
  prepare: async (a) => {
    // Read-only: every artifact is there (a file or a directory); the workspace is new.
    for (const x of a.artifacts) {
      const st = fs.lstatSync(join(a.source, x.from), { throwIfNoEntry: false });
      if (!st?.isFile() && !st?.isDirectory()) throw new NonRetryableError(new Error(`the upstream directory ${a.source} has no ${x.from}`));
    }
    if (fs.existsSync(a.workspace)) throw new NonRetryableError(new Error(`workspace ${a.workspace} already exists; refusing to reuse it`));
    return { workspace: a.workspace };
  },
  do: async (a, before, ctx) => {
    fs.mkdirSync(before.workspace, { mode: 0o700 });
    const files: Fetched['files'] = [];
    for (const x of a.artifacts) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const target = fetchedPath(before.workspace, x.key);
      copyContent(join(a.source, x.from), target);
      const hash = contentHash(target);
      if (x.content_hash !== undefined && x.content_hash !== hash) {
        throw new NonRetryableError(new Error(`${x.key} from ${join(a.source, x.from)} is corrupt: content_hash ${hash}, the upstream index says ${x.content_hash}`));
      }
      files.push({ key: x.key, content_hash: hash });
    }
    return { files };
  },
  verify: async (_a, before, after) => {
    for (const f of after.files) {
      const path = fetchedPath(before.workspace, f.key);
      if (!fs.existsSync(path) || contentHash(path) !== f.content_hash) throw new VerificationError(`fetched ${f.key} is missing or changed in ${before.workspace}`, { path });
    }
  },
  undo: async (_a, before) => removeWorkspace(before.workspace),
  verifyUndo: async (_a, before) => {
    if (fs.existsSync(before.workspace)) throw new VerificationError(`workspace ${before.workspace} is still there`, { path: before.workspace });
  },
  commit: async (_a, before) => removeWorkspace(before.workspace),
});
