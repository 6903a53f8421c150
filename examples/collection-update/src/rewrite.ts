import { InvalidInputError } from '@unwind/core';
import { lockKey, parseToml, type LockEntry } from './format.js';
import { checkEdit, joinSections, keyLine, replaceBody, setKeys, splitSections } from './toml-edit.js';

/**
 * What an update changes about one artifact: where it now resolves to.
 *
 * @example
 * ```ts
 * const change: Resolved = { resolved_sha: '9f0c…', resolved_version: 'v1.1.0' };
 * ```
 */
export interface Resolved {
  resolved_sha: string;
  resolved_version?: string;
}

/**
 * A timestamp as skillmeat writes one (Python's `datetime.utcnow().isoformat()`).
 *
 * @example
 * ```ts
 * skillmeatTime(new Date('2025-11-15T10:00:00Z')); // '2025-11-15T10:00:00.000000'
 * ```
 */
export function skillmeatTime(date: Date): string {
  return `${date.toISOString().slice(0, -1)}000`;
}

const clone = <T>(value: T): T => structuredClone(value);

/**
 * collection.toml with `[collection].updated` set and, in each updated
 * artifact's `[[artifacts]]` table, `resolved_sha`, `resolved_version` and
 * `last_updated` set. Every other line stays byte for byte; with no change
 * the text is returned as it is.
 *
 * @example
 * ```ts
 * const next = rewriteManifest(text, 'collection.toml', new Map([['canvas-design::skill', { resolved_sha: '9f0c…' }]]), now);
 * ```
 */
export function rewriteManifest(text: string, where: string, changes: ReadonlyMap<string, Resolved>, now: string): string {
  if (changes.size === 0) return text;
  const data = parseToml(text, where) as { collection: Record<string, unknown>; artifacts: Array<Record<string, unknown>> };
  const intended = clone(data);
  const sections = splitSections(text);
  const collection = sections.find((s) => !s.arrayTable && s.path.length === 1 && s.path[0] === 'collection');
  if (!collection) throw new InvalidInputError(`${where}: [collection] is not written as a table header; cannot rewrite it line by line`, { where });
  setKeys(collection, { updated: now });
  intended.collection.updated = now;
  const artifactSections = sections.filter((s) => s.arrayTable && s.path.length === 1 && s.path[0] === 'artifacts');
  if (artifactSections.length !== data.artifacts.length) throw new InvalidInputError(`${where}: the artifacts are not all written as [[artifacts]] tables`, { where });
  let seen = 0;
  data.artifacts.forEach((artifact, i) => {
    const change = changes.get(lockKey(artifact as { name: string; type: string }));
    if (!change) return;
    seen++;
    const values = { resolved_sha: change.resolved_sha, ...(change.resolved_version ? { resolved_version: change.resolved_version } : {}), last_updated: now };
    setKeys(artifactSections[i]!, values);
    Object.assign(intended.artifacts[i]!, values);
  });
  if (seen !== changes.size) throw new InvalidInputError(`${where}: an updated artifact is not in the manifest`, { where });
  const edited = joinSections(sections);
  checkEdit(edited, intended, where);
  return edited;
}

/** skillmeat's order of a lock entry's keys; other keys follow as they were. */
const ENTRY_ORDER = ['content_hash', 'fetched', 'upstream', 'resolved_sha', 'resolved_version'] as const;

/**
 * collection.lock with each updated entry's table body rewritten in one
 * fixed order (content_hash, fetched, upstream, resolved_sha,
 * resolved_version, then any other keys as they were). Every other entry
 * and line stays byte for byte.
 *
 * @example
 * ```ts
 * const next = rewriteLock(text, 'collection.lock', new Map([['canvas-design::skill', { content_hash: 'ab12…', fetched: now, resolved_sha: '9f0c…' }]]));
 * ```
 */
export function rewriteLock(text: string, where: string, updates: ReadonlyMap<string, LockEntry>): string {
  if (updates.size === 0) return text;
  const data = parseToml(text, where) as { lock: { entries: Record<string, Record<string, unknown>> } };
  const intended = clone(data);
  const sections = splitSections(text);
  for (const [key, update] of updates) {
    const section = sections.find((s) => s.path.length === 3 && s.path[0] === 'lock' && s.path[1] === 'entries' && s.path[2] === key);
    const old = data.lock?.entries?.[key];
    if (!section || !old) throw new InvalidInputError(`${where}: no [lock.entries."${key}"] table to rewrite`, { where, key });
    const entry: Record<string, unknown> = { ...old, ...update };
    const keys = [...ENTRY_ORDER.filter((k) => entry[k] !== undefined), ...Object.keys(old).filter((k) => !(ENTRY_ORDER as readonly string[]).includes(k))];
    replaceBody(section, keys.map((k) => keyLine(k, entry[k])));
    intended.lock.entries[key] = entry;
  }
  const edited = joinSections(sections);
  checkEdit(edited, intended, where);
  return edited;
}
