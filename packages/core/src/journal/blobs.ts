import * as fs from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError, UnsafeDirectoryError, UntrustedJournalError } from '../errors.js';
import type { JournalPlace } from '../step.js';
import { assertPrivateDirectory } from '../private-directory.js';
import { makeDirectoryDurably, makeDirectoryForEntry, writeNewFileDurably } from '../durable.js';

/**
 * Durable storage for one step's backups, kept in the transaction's journal
 * directory — never beside the target, where a service reading a `conf.d`
 * directory would load a backup as configuration.
 *
 * @example
 * ```ts
 * prepare: async (a, ctx) => {
 *   if (!(await ctx.blobs.has('before'))) await ctx.blobs.write('before', fs.readFileSync(a.path));
 *   return { blob: 'before' };
 * },
 * undo: async (a, before, _after, ctx) => fs.writeFileSync(a.path, await ctx.blobs.read(before.blob)),
 * ```
 */
export interface BlobStore {
  /** Stores bytes under `name`, synced to disk before it returns. `name` must be new. */
  write(name: string, data: string | Uint8Array): Promise<void>;
  /** Reads what `write` stored. */
  read(name: string): Promise<Buffer>;
  /** Whether `name` was stored. */
  has(name: string): Promise<boolean>;
  /**
   * A private (0700) directory of this step's own, for backups that are whole
   * trees. The step syncs what it puts there before `prepare` returns.
   */
  directory(): Promise<string>;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkName(name: string): void {
  if (!SAFE_NAME.test(name)) throw new InvalidInputError(`blob name ${JSON.stringify(name)} must match ${SAFE_NAME}`, { name });
}

/**
 * Recovery's check of a blob name a journal names (call it from
 * `validateJournaled`): the name is one a blob store accepts, and the blob
 * is a regular file (not a symlink, not missing) in this step's own blob
 * directory, itself a real directory. Throws {@link UntrustedJournalError}
 * before any undo or commit acts, rather than the undo failing half-way.
 *
 * @example
 * ```ts
 * validateJournaled: (args, before, _after, where) => {
 *   if (before.existed) checkJournaledBlob(where, before.blob, 'files.writeFile');
 * },
 * ```
 */
export function checkJournaledBlob(where: JournalPlace, name: string, what: string): void {
  if (!SAFE_NAME.test(name)) throw new UntrustedJournalError(`${what}: journaled blob name ${JSON.stringify(name)} must match ${SAFE_NAME}`, { blob: name });
  const blobs = join(where.transactionDirectory, 'blobs');
  const own = join(blobs, String(where.stepIndex));
  for (const dir of [blobs, own]) {
    if (!fs.lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UntrustedJournalError(`${what}: blob directory ${dir} is missing or not a real directory`, { blob: name, directory: dir });
  }
  const st = fs.lstatSync(join(own, name), { throwIfNoEntry: false });
  if (!st?.isFile()) {
    const found = !st ? 'missing' : st.isSymbolicLink() ? 'a symlink' : 'not a regular file';
    throw new UntrustedJournalError(`${what}: journaled blob ${name} of step ${where.stepIndex} is ${found}`, { blob: name, path: join(own, name) });
  }
}

/** Blobs stored as files under `<transaction>/blobs/<step>/`. */
export class FileBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  /** Every caller then creates an entry in the root and syncs it (the blob's file, or `tree` made durably). */
  private ensure(): string {
    makeDirectoryForEntry(this.root, 0o700);
    assertPrivateDirectory(this.root, 'blob store');
    return this.root;
  }

  async write(name: string, data: string | Uint8Array): Promise<void> {
    checkName(name);
    writeNewFileDurably(join(this.ensure(), name), data, 0o600);
  }

  async read(name: string): Promise<Buffer> {
    checkName(name); // a name from a journal can never leave this directory: no '/', no leading '.'
    assertPrivateDirectory(this.root, 'blob store');
    const path = join(this.root, name);
    // O_NOFOLLOW: a blob swapped for a symlink (to /etc/shadow, say) is never read and written back somewhere.
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      if (!fs.fstatSync(fd).isFile()) throw new UnsafeDirectoryError(path, 'blob', 'is not a regular file');
      return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  async has(name: string): Promise<boolean> {
    checkName(name);
    return fs.lstatSync(join(this.root, name), { throwIfNoEntry: false })?.isFile() ?? false;
  }

  async directory(): Promise<string> {
    const dir = join(this.ensure(), 'tree');
    makeDirectoryDurably(dir, 0o700);
    assertPrivateDirectory(dir, 'blob store');
    return dir;
  }
}

/** Blobs kept in memory (memory journal); `directory()` is a private temp dir. */
export class MemoryBlobStore implements BlobStore {
  private readonly data = new Map<string, Buffer>();
  private dir: string | undefined;
  constructor(private readonly makeTemp: () => string) {}

  async write(name: string, data: string | Uint8Array): Promise<void> {
    checkName(name);
    if (this.data.has(name)) throw new InvalidInputError(`blob ${name} already exists`, { name });
    this.data.set(name, Buffer.from(data));
  }

  async read(name: string): Promise<Buffer> {
    const value = this.data.get(name);
    if (!value) throw new InvalidInputError(`blob ${name} does not exist`, { name });
    return value;
  }

  async has(name: string): Promise<boolean> {
    return this.data.has(name);
  }

  async directory(): Promise<string> {
    this.dir ??= this.makeTemp();
    return this.dir;
  }
}
