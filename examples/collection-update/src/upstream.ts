import { InvalidInputError } from '@unwind/core';
import { parseToml, validateArtifactPath } from './format.js';

/**
 * The index file of a local upstream directory. skillmeat resolves an
 * artifact's `upstream` on GitHub; this example has no network, so a local
 * directory stands in for the upstreams: `upstream.toml` says, for each
 * upstream it offers, the commit it resolves to now and where its content
 * lies in the directory.
 *
 * @example
 * ```ts
 * readUpstreamIndex(fs.readFileSync(join(source, UPSTREAM_INDEX), 'utf8'), UPSTREAM_INDEX);
 * ```
 */
export const UPSTREAM_INDEX = 'upstream.toml';

/**
 * One `[[artifacts]]` table of upstream.toml.
 *
 * @example
 * ```ts
 * const offer: UpstreamOffer = { upstream: 'https://github.com/anthropics/skills/tree/main/canvas-design', resolved_sha: '9f0c…', resolved_version: 'v1.1.0', path: 'canvas-design' };
 * ```
 */
export interface UpstreamOffer {
  /** Matches an artifact's `upstream` in collection.toml. */
  upstream: string;
  /** The commit the upstream resolves to now. */
  resolved_sha: string;
  resolved_version?: string;
  /** Relative path of the content (a file or a directory) inside the upstream directory. */
  path: string;
  /** When given, the fetched content must hash to it. */
  content_hash?: string;
}

/**
 * Reads upstream.toml; an upstream listed twice, a malformed sha or a path
 * leaving the directory is refused.
 *
 * @example
 * ```ts
 * const offers = readUpstreamIndex(text, '/srv/upstream/upstream.toml');
 * offers.get('https://github.com/anthropics/skills/tree/main/canvas-design')?.resolved_sha;
 * ```
 */
export function readUpstreamIndex(text: string, where: string): Map<string, UpstreamOffer> {
  const data = parseToml(text, where);
  const list = data.artifacts ?? [];
  if (!Array.isArray(list)) throw new InvalidInputError(`${where}: "artifacts" must be an array of tables`, { where });
  const offers = new Map<string, UpstreamOffer>();
  list.forEach((table: Record<string, unknown>, i) => {
    const at = `${where} [[artifacts]] #${i + 1}`;
    const field = (key: string, optional = false): string | undefined => {
      const v = table[key];
      if (v === undefined && optional) return undefined;
      if (typeof v !== 'string' || v === '') throw new InvalidInputError(`${at}: "${key}" must be a non-empty string`, { where: at, key });
      return v;
    };
    const offer: UpstreamOffer = { upstream: field('upstream')!, resolved_sha: field('resolved_sha')!, path: field('path')!.replace(/\/$/, '') };
    const version = field('resolved_version', true);
    const hash = field('content_hash', true);
    if (version) offer.resolved_version = version;
    if (hash) offer.content_hash = hash;
    if (!/^[0-9a-f]{7,64}$/.test(offer.resolved_sha)) throw new InvalidInputError(`${at}: resolved_sha is not a hex commit id`, { where: at });
    if (hash !== undefined && !/^[0-9a-f]{64}$/.test(hash)) throw new InvalidInputError(`${at}: content_hash is not a hex SHA-256`, { where: at });
    validateArtifactPath(offer.path);
    if (offers.has(offer.upstream)) throw new InvalidInputError(`${where}: ${offer.upstream} is listed twice`, { where });
    offers.set(offer.upstream, offer);
  });
  return offers;
}
