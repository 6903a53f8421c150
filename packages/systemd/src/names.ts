import { InvalidInputError, validateName } from '@unwind/core';

/**
 * The unit types systemd knows, by file suffix.
 *
 * @example
 * ```ts
 * UNIT_SUFFIXES.includes('timer'); // true
 * ```
 */
export const UNIT_SUFFIXES = ['service', 'socket', 'device', 'mount', 'automount', 'swap', 'target', 'path', 'timer', 'slice', 'scope'] as const;

/** Unit types that exist only at run time and have no unit file to install. */
const NO_UNIT_FILE = new Set(['device', 'scope']);

/** systemd's name alphabet, plus `\xHH` escapes (e.g. `home-a\x2db.mount`); nothing a shell would read. */
const ESCAPE = String.raw`\\x[0-9a-fA-F]{2}`;
const UNIT_NAME = new RegExp(String.raw`^(?:[A-Za-z0-9_:]|${ESCAPE})(?:[A-Za-z0-9_.:@-]|${ESCAPE})*\.(?:${UNIT_SUFFIXES.join('|')})$`);

/** How a name is going to be used, for the extra checks: a template (`app@.service`) can be installed, not started. */
export type UnitUse = 'any' | 'file' | 'instance';

/**
 * Checks a unit name before it reaches a command line or a path: no path
 * separators, spaces, shell characters or leading dash, at most 255
 * characters, ending in a known unit suffix. Throws `InvalidInputError` (from `@unwind/core`).
 *
 * @example
 * ```ts
 * validateUnitName('app.service');        // ok
 * validateUnitName('app; rm -rf /.service'); // throws InvalidInputError
 * ```
 */
export function validateUnitName(value: unknown, use: UnitUse = 'any'): string {
  const name = validateName(value, { what: 'unit name', pattern: UNIT_NAME, maxLength: 255 });
  const suffix = name.slice(name.lastIndexOf('.') + 1);
  const stem = name.slice(0, name.lastIndexOf('.'));
  if (stem.split('@').length > 2) throw new InvalidInputError(`unit name ${JSON.stringify(name)} has more than one "@"`, { unit: name });
  if (use === 'file' && NO_UNIT_FILE.has(suffix)) throw new InvalidInputError(`unit name ${JSON.stringify(name)}: .${suffix} units have no unit file`, { unit: name });
  if (use === 'instance' && stem.endsWith('@')) {
    throw new InvalidInputError(`unit name ${JSON.stringify(name)} is a template; name an instance, e.g. ${stem}name.${suffix}`, { unit: name });
  }
  return name;
}

const SECTION = /^\[([A-Za-z][A-Za-z0-9-]*)\]\s*$/;
const ASSIGNMENT = /^[A-Za-z][A-Za-z0-9_-]*\s*=/;
const KNOWN_SECTIONS = new Set(['Unit', 'Install', 'Service', 'Socket', 'Mount', 'Automount', 'Swap', 'Path', 'Timer', 'Slice', 'Scope']);
const MAX_UNIT_FILE = 1024 * 1024;

/**
 * Sanity-checks unit file contents before anything is written: no NUL, at
 * most 1 MiB, a `[Unit]`, `[Service]` or other known section header, and
 * every line a section header, an assignment, a comment, blank, or the
 * continuation of a line ending in `\`. It is not systemd's parser (verify
 * asks systemd whether the unit loaded); it refuses what is clearly not a
 * unit file, e.g. a path passed where contents were meant.
 *
 * @example
 * ```ts
 * validateUnitContent('[Service]\nExecStart=/usr/bin/app\n'); // ok
 * validateUnitContent('/etc/app.service');                   // throws InvalidInputError
 * ```
 */
export function validateUnitContent(content: unknown, unit = 'unit'): string {
  if (typeof content !== 'string') throw new InvalidInputError(`contents of ${unit} must be a string`, { unit });
  if (content.includes('\0')) throw new InvalidInputError(`contents of ${unit} contain a NUL byte`, { unit });
  if (Buffer.byteLength(content) > MAX_UNIT_FILE) throw new InvalidInputError(`contents of ${unit} are larger than 1 MiB`, { unit });
  let section: string | undefined;
  let known = false;
  let continued = false;
  const lines = content.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    const wasContinued = continued;
    continued = line.endsWith('\\') && !line.startsWith('#') && !line.startsWith(';');
    if (wasContinued || line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = SECTION.exec(line);
    if (header) {
      section = header[1];
      if (KNOWN_SECTIONS.has(section!)) known = true;
      continue;
    }
    if (!ASSIGNMENT.test(line)) throw new InvalidInputError(`contents of ${unit}, line ${i + 1}: not a section header, an assignment or a comment: ${JSON.stringify(raw.slice(0, 80))}`, { unit, line: i + 1 });
    if (section === undefined) throw new InvalidInputError(`contents of ${unit}, line ${i + 1}: assignment before the first [Section] header`, { unit, line: i + 1 });
  }
  if (!known) throw new InvalidInputError(`contents of ${unit} have no [Unit], [Service], [Install] or other unit section header`, { unit });
  return content;
}
