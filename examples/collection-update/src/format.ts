import { parse } from 'smol-toml';
import { InvalidInputError } from '@unwind/core';

/**
 * skillmeat's two collection files, read with a real TOML parser:
 * `collection.toml` (`[collection]` and one `[[artifacts]]` table per
 * artifact) and `collection.lock` (`[lock]` with one
 * `[lock.entries."name::type"]` table per artifact). Only the fields this
 * program needs are checked; every other key is kept as it is on disk.
 */

/**
 * The manifest's file name.
 *
 * @example
 * ```ts
 * readManifest(fs.readFileSync(join(dir, MANIFEST), 'utf8'), join(dir, MANIFEST));
 * ```
 */
export const MANIFEST = 'collection.toml';
/**
 * The lock's file name.
 *
 * @example
 * ```ts
 * readLock(fs.readFileSync(join(dir, LOCK), 'utf8'), join(dir, LOCK));
 * ```
 */
export const LOCK = 'collection.lock';

/**
 * skillmeat's artifact types that live in the collection directory.
 *
 * @example
 * ```ts
 * ARTIFACT_TYPES.includes('skill'); // true
 * ```
 */
export const ARTIFACT_TYPES = ['skill', 'command', 'agent', 'hook', 'mcp', 'workflow', 'composite'] as const;

/**
 * One `[[artifacts]]` table of collection.toml, as far as the update reads it.
 *
 * @example
 * ```ts
 * const a: ManifestArtifact = { name: 'canvas-design', type: 'skill', path: 'skills/canvas-design', origin: 'github', upstream: 'https://github.com/anthropics/skills/tree/main/canvas-design' };
 * ```
 */
export interface ManifestArtifact {
  name: string;
  type: string;
  /** Relative to the collection directory: a file (commands, agents) or a directory (skills). */
  path: string;
  /** `local`, `github` or `marketplace`; local artifacts have no upstream and are never updated. */
  origin: string;
  upstream?: string;
  resolved_sha?: string;
  resolved_version?: string;
}

/**
 * collection.toml as far as the update reads it.
 *
 * @example
 * ```ts
 * const m: Manifest = readManifest(text, 'collection.toml');
 * console.log(m.name, m.artifacts.length);
 * ```
 */
export interface Manifest {
  name: string;
  artifacts: ManifestArtifact[];
}

/**
 * One `[lock.entries."name::type"]` table of collection.lock.
 *
 * @example
 * ```ts
 * const e: LockEntry = { content_hash: 'ab12…', fetched: '2025-11-10T12:00:00', resolved_sha: '9f0c…' };
 * ```
 */
export interface LockEntry {
  /** SHA-256 (hex) of the artifact's content, as {@link contentHash} computes it. */
  content_hash: string;
  fetched: string;
  upstream?: string;
  resolved_sha?: string;
  resolved_version?: string;
}

/**
 * The lock's key of an artifact: `name::type`.
 *
 * @example
 * ```ts
 * lockKey({ name: 'canvas-design', type: 'skill' }); // 'canvas-design::skill'
 * ```
 */
export function lockKey(artifact: { name: string; type: string }): string {
  return `${artifact.name}::${artifact.type}`;
}

/**
 * Parses TOML text, turning a syntax error into an {@link InvalidInputError} naming the file.
 *
 * @example
 * ```ts
 * const data = parseToml(text, '/srv/collection/collection.toml');
 * ```
 */
export function parseToml(text: string, where: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidInputError(`${where} is not valid TOML: ${(error as Error).message}`, { where });
  }
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

function text(table: Record<string, unknown>, key: string, where: string, optional = false): string | undefined {
  const v = table[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v === '') throw new InvalidInputError(`${where}: "${key}" must be a non-empty string`, { where, key });
  return v;
}

/**
 * Refuses an artifact name skillmeat itself refuses (a path separator, `..`, a leading dot).
 *
 * @example
 * ```ts
 * validateArtifactName('canvas-design'); // ok
 * validateArtifactName('../etc');        // throws InvalidInputError
 * ```
 */
export function validateArtifactName(name: string): void {
  if (name.includes('/') || name.includes('\\') || name.includes('..') || name.startsWith('.') || name.length > 255 || name.includes('\0')) {
    throw new InvalidInputError(`"${name}" is not a valid artifact name (no path separators, no "..", no leading dot)`, { name });
  }
}

/**
 * Refuses an artifact path that could reach outside the collection or hit its own two files.
 *
 * @example
 * ```ts
 * validateArtifactPath('skills/canvas-design'); // ok
 * validateArtifactPath('../../etc/passwd');     // throws InvalidInputError
 * ```
 */
export function validateArtifactPath(path: string): void {
  const parts = path.replace(/\/$/, '').split('/');
  const plain = parts.every((p) => p !== '' && p !== '.' && p !== '..' && !p.includes('\0') && !p.includes('\\'));
  if (!plain || path.startsWith('/') || parts.length > 16 || path === MANIFEST || path === LOCK) {
    throw new InvalidInputError(`"${path}" is not a valid artifact path (a relative path of plain names inside the collection, not ${MANIFEST} or ${LOCK})`, { path });
  }
}

/**
 * Reads collection.toml: `[collection].name` and every `[[artifacts]]`
 * table's name, type, path and origin (upstream and the resolved fields when
 * given). Two artifacts with one `name::type`, or two on one path, are refused.
 *
 * @example
 * ```ts
 * const manifest = readManifest(fs.readFileSync('/srv/collection/collection.toml', 'utf8'), 'collection.toml');
 * ```
 */
export function readManifest(source: string, where: string): Manifest {
  const data = parseToml(source, where);
  const collection = data.collection;
  if (!isTable(collection)) throw new InvalidInputError(`${where}: no [collection] table`, { where });
  const name = text(collection, 'name', `${where} [collection]`)!;
  const list = data.artifacts ?? [];
  if (!Array.isArray(list) || !list.every(isTable)) throw new InvalidInputError(`${where}: "artifacts" must be an array of tables ([[artifacts]])`, { where });
  const keys = new Set<string>();
  const paths = new Set<string>();
  const artifacts = list.map((table, i): ManifestArtifact => {
    const at = `${where} [[artifacts]] #${i + 1}`;
    const artifact: ManifestArtifact = {
      name: text(table, 'name', at)!,
      type: text(table, 'type', at)!,
      path: text(table, 'path', at)!.replace(/\/$/, ''),
      origin: text(table, 'origin', at)!,
    };
    for (const key of ['upstream', 'resolved_sha', 'resolved_version'] as const) {
      const v = text(table, key, at, true);
      if (v !== undefined) artifact[key] = v;
    }
    validateArtifactName(artifact.name);
    validateArtifactPath(artifact.path);
    if (!(ARTIFACT_TYPES as readonly string[]).includes(artifact.type)) throw new InvalidInputError(`${at}: unknown type "${artifact.type}"`, { where: at });
    if (!['local', 'github', 'marketplace'].includes(artifact.origin)) throw new InvalidInputError(`${at}: origin must be local, github or marketplace, not "${artifact.origin}"`, { where: at });
    const key = lockKey(artifact);
    if (keys.has(key)) throw new InvalidInputError(`${where}: ${key} is listed twice`, { where, key });
    if ([...paths].some((p) => p === artifact.path || p.startsWith(`${artifact.path}/`) || artifact.path.startsWith(`${p}/`))) {
      throw new InvalidInputError(`${where}: ${artifact.path} overlaps another artifact's path`, { where, path: artifact.path });
    }
    keys.add(key);
    paths.add(artifact.path);
    return artifact;
  });
  return { name, artifacts };
}

/**
 * Reads collection.lock: `[lock.entries."name::type"]` tables, each with a
 * hex `content_hash` and a `fetched` time. A missing `[lock]` table is an
 * empty lock (skillmeat writes the file on the first add).
 *
 * @example
 * ```ts
 * const entries = readLock(fs.readFileSync('/srv/collection/collection.lock', 'utf8'), 'collection.lock');
 * entries.get('canvas-design::skill')?.content_hash;
 * ```
 */
export function readLock(source: string, where: string): Map<string, LockEntry> {
  const data = parseToml(source, where);
  const lock = data.lock ?? {};
  if (!isTable(lock)) throw new InvalidInputError(`${where}: "lock" must be a table`, { where });
  const entries = lock.entries ?? {};
  if (!isTable(entries)) throw new InvalidInputError(`${where}: "lock.entries" must be a table`, { where });
  const result = new Map<string, LockEntry>();
  for (const [key, table] of Object.entries(entries)) {
    const at = `${where} [lock.entries."${key}"]`;
    if (!isTable(table) || !/^[^:]+::[a-z_]+$/.test(key)) throw new InvalidInputError(`${at}: not a "name::type" table`, { where: at });
    const entry: LockEntry = { content_hash: text(table, 'content_hash', at)!, fetched: text(table, 'fetched', at)! };
    if (!/^[0-9a-f]{64}$/.test(entry.content_hash)) throw new InvalidInputError(`${at}: content_hash is not a hex SHA-256`, { where: at });
    for (const k of ['upstream', 'resolved_sha', 'resolved_version'] as const) {
      const v = text(table, k, at, true);
      if (v !== undefined) entry[k] = v;
    }
    result.set(key, entry);
  }
  return result;
}
