import { parse, stringify } from 'smol-toml';
import { InvalidInputError } from '@unwind/core';
import { parseToml } from './format.js';

/**
 * Edits TOML text in place, line by line, so every byte the update does not
 * mean to change stays as the user (or skillmeat) wrote it: comments, key
 * order, quoting, blank lines. The file is cut into sections at table
 * headers (`[a.b]`, `[[a]]`); a section is changed only by replacing whole
 * `key = value` lines or its whole body. The caller then proves the result
 * with {@link checkEdit}: the edited text must parse to exactly the intended
 * data, or the edit is refused before anything is written.
 */

/**
 * One table header and the lines up to the next one. The lines before the
 * first header form a section with no header.
 *
 * @example
 * ```ts
 * const sections = splitSections(text);
 * sections.filter((s) => s.path.join('.') === 'artifacts').length; // number of [[artifacts]]
 * ```
 */
export interface Section {
  /** The header's key path, e.g. `['lock', 'entries', 'canvas-design::skill']`; `[]` before the first header. */
  path: string[];
  /** True for an array-of-tables header (`[[artifacts]]`). */
  arrayTable: boolean;
  /** The section's lines, its header first (if any), without line ends. */
  lines: string[];
}

/** The header's key path when `line` is a table header, else undefined. */
function headerPath(line: string): { path: string[]; arrayTable: boolean } | undefined {
  if (!line.trimStart().startsWith('[')) return undefined;
  let data: unknown;
  try {
    data = parse(line);
  } catch {
    return undefined; // e.g. a line of a multi-line array
  }
  const path: string[] = [];
  let arrayTable = false;
  for (;;) {
    const keys = Object.keys(data as object);
    if (keys.length === 0) return { path, arrayTable };
    path.push(keys[0]!);
    data = (data as Record<string, unknown>)[keys[0]!];
    if (Array.isArray(data)) {
      arrayTable = true;
      data = data[0];
    }
  }
}

/**
 * Cuts TOML text into sections at table headers. `joinSections` of the
 * result is the text, byte for byte.
 *
 * @example
 * ```ts
 * joinSections(splitSections(text)) === text; // true
 * ```
 */
export function splitSections(text: string): Section[] {
  const sections: Section[] = [{ path: [], arrayTable: false, lines: [] }];
  for (const line of text.split('\n')) {
    const header = headerPath(line);
    if (header) sections.push({ ...header, lines: [line] });
    else sections.at(-1)!.lines.push(line);
  }
  return sections;
}

/**
 * Puts sections back together.
 *
 * @example
 * ```ts
 * fs.writeFileSync(path, joinSections(sections));
 * ```
 */
export function joinSections(sections: Section[]): string {
  return sections.flatMap((s) => s.lines).join('\n');
}

/**
 * One `key = value` line, rendered by the TOML library.
 *
 * @example
 * ```ts
 * keyLine('resolved_sha', 'abc'); // 'resolved_sha = "abc"'
 * ```
 */
export function keyLine(key: string, value: unknown): string {
  return stringify({ [key]: value }).trimEnd();
}

/**
 * Sets keys of a section: an existing `key = …` line is replaced whole; a
 * missing key is added after the section's last non-blank line.
 *
 * @example
 * ```ts
 * setKeys(section, { resolved_sha: 'abc', last_updated: '2025-11-15T10:00:00' });
 * ```
 */
export function setKeys(section: Section, values: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(values)) {
    const line = keyLine(key, value);
    const pattern = new RegExp(`^\\s*("?)${key.replace(/[^A-Za-z0-9_-]/g, '\\$&')}\\1\\s*=`);
    const at = section.lines.findIndex((l, i) => (i > 0 || section.path.length === 0) && pattern.test(l));
    if (at >= 0) section.lines[at] = line;
    else section.lines.splice(lastContentLine(section) + 1, 0, line);
  }
}

/**
 * Replaces a section's body (every line after its header up to its trailing
 * blank lines) with the given lines.
 *
 * @example
 * ```ts
 * replaceBody(section, ['content_hash = "ab12…"', 'fetched = "2025-11-15T10:00:00"']);
 * ```
 */
export function replaceBody(section: Section, lines: string[]): void {
  const end = lastContentLine(section) + 1;
  section.lines.splice(1, Math.max(0, end - 1), ...lines);
}

function lastContentLine(section: Section): number {
  let i = section.lines.length - 1;
  while (i > 0 && section.lines[i]!.trim() === '') i--;
  return i;
}

/** A value with object keys sorted and dates as text, for comparing data regardless of key order. */
function canonical(value: unknown): unknown {
  if (value instanceof Date) return `date:${value.toISOString()}`;
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  }
  return value;
}

/**
 * Proves an edit: the edited text must parse to exactly `intended`. Throws
 * an InvalidInputError (the file is then not written) when the text's layout
 * defeated the line editor — say a table written inline.
 *
 * @example
 * ```ts
 * checkEdit(edited, { ...data, collection: { ...data.collection, updated: now } }, 'collection.toml');
 * ```
 */
export function checkEdit(edited: string, intended: unknown, where: string): void {
  const result = parseToml(edited, `${where} (as rewritten)`);
  if (JSON.stringify(canonical(result)) !== JSON.stringify(canonical(intended))) {
    throw new InvalidInputError(`${where} cannot be rewritten line by line (a table written inline or in an unusual layout?); nothing was changed`, { where });
  }
}
