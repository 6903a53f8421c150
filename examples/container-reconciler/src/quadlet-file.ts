// A Quadlet file read as Quadlet reads it: systemd's unit-file syntax
// (sections, Key=Value lines, comments, backslash continuations), checked
// before anything is deployed so a file the generator would reject is
// refused with exit 4 and nothing touched, instead of failing at runtime.
import { extname } from 'node:path';
import { UnwindError } from '@unwind/core';

/** One `Key=Value` line (continuations joined), or a comment/blank line kept as it was. */
export type QuadletLine = { key: string; value: string } | { text: string };

/** One section: its name (empty for lines before the first header) and its lines in order. */
export interface QuadletSection {
  name: string;
  lines: QuadletLine[];
}

/** The Quadlet types the reconciler deploys, and the section each must have. */
export const QUADLET_SECTIONS = { '.container': 'Container', '.kube': 'Kube', '.volume': 'Volume', '.network': 'Network' } as const;
/** The extension of a Quadlet type. */
export type QuadletExtension = keyof typeof QUADLET_SECTIONS;

/** The sections Quadlet passes on to the generated unit, besides the type's own. */
const PASSED_SECTIONS = new Set(['Unit', 'Service', 'Install']);

/**
 * A Quadlet file that Quadlet would not accept (syntax, a missing section or
 * key, a section of another type). Code QUADLET_FILE_INVALID; nothing was changed.
 *
 * @example
 * ```ts
 * try { parseQuadletFile('web.container', text); } catch (error) { if (error instanceof QuadletFileError) console.error(error.context.problems); }
 * ```
 */
export class QuadletFileError extends UnwindError<'QUADLET_FILE_INVALID'> {
  constructor(file: string, problems: readonly string[]) {
    super('QUADLET_FILE_INVALID', `${file}: ${problems.join('; ')}`, { context: { file, problems: [...problems] } });
  }
}

/**
 * Whether a file name is one of the Quadlet types deployed here.
 *
 * @example
 * ```ts
 * quadletExtension('web.container'); // '.container'
 * quadletExtension('web.service');   // undefined
 * ```
 */
export function quadletExtension(file: string): QuadletExtension | undefined {
  const extension = extname(file);
  return extension in QUADLET_SECTIONS ? (extension as QuadletExtension) : undefined;
}

/**
 * Parses a Quadlet file into sections, throwing {@link QuadletFileError}
 * with every problem: a line that is neither a section header, a comment nor
 * `Key=Value`; a NUL byte; a section Quadlet does not pass on; no section of
 * the file's own type; a `.container` without `Image=` (or `Rootfs=`), a
 * `.kube` without `Yaml=`.
 *
 * @example
 * ```ts
 * parseQuadletFile('web.container', '[Container]\nImage=docker.io/library/nginx:1.27\n')[0]!.name; // 'Container'
 * ```
 */
export function parseQuadletFile(file: string, text: string): QuadletSection[] {
  const extension = quadletExtension(file);
  if (!extension) throw new QuadletFileError(file, ['not a Quadlet file (.container, .kube, .volume or .network)']);
  const { sections, problems } = parseSections(text);
  const own = QUADLET_SECTIONS[extension];
  for (const s of sections) {
    if (s.name === '' && s.lines.some((l) => 'key' in l)) problems.push('a key before the first [Section]');
    else if (s.name !== '' && s.name !== own && !PASSED_SECTIONS.has(s.name) && !s.name.startsWith('X-')) problems.push(`[${s.name}] is not a section of a ${extension} file`);
  }
  const keys = (name: string) => sections.filter((s) => s.name === name).flatMap((s) => s.lines.filter((l): l is { key: string; value: string } => 'key' in l).map((l) => l.key));
  if (!sections.some((s) => s.name === own)) problems.push(`no [${own}] section`);
  else if (extension === '.container' && !keys(own).some((k) => k === 'Image' || k === 'Rootfs')) problems.push('no Image= (or Rootfs=) in [Container]');
  else if (extension === '.kube' && !keys(own).includes('Yaml')) problems.push('no Yaml= in [Kube]');
  if (problems.length > 0) throw new QuadletFileError(file, problems);
  return sections;
}

/**
 * The syntax alone: sections and lines, and what is wrong with them. Also
 * reads a transform file, whose keys may carry a leading `+`.
 *
 * @example
 * ```ts
 * parseSections('[Unit]\nAfter=a.service\n').sections[1]!.lines; // [{ key: 'After', value: 'a.service' }]
 * ```
 */
export function parseSections(text: string): { sections: QuadletSection[]; problems: string[] } {
  const problems: string[] = [];
  if (text.includes('\0')) problems.push('holds a NUL byte');
  const sections: QuadletSection[] = [{ name: '', lines: [] }];
  const physical = text.split('\n');
  if (physical.at(-1) === '') physical.pop();
  for (let i = 0; i < physical.length; i++) {
    let line = physical[i]!.replace(/\r$/, '');
    const number = i + 1;
    const trimmed = line.trim();
    const current = sections.at(-1)!;
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) {
      current.lines.push({ text: line });
      continue;
    }
    const header = /^\[([^\]\s][^\]]*)\]$/.exec(trimmed);
    if (header) {
      sections.push({ name: header[1]!, lines: [] });
      continue;
    }
    // A value continued on the next line with a trailing backslash, read as podman's unit file
    // parser reads it: the backslash becomes one space; comment and blank lines inside the
    // continuation are skipped (they neither end it nor join it); a backslash on the last line is
    // dropped; a continuation that only comments and blank lines follow to the end of the file is
    // dropped by podman altogether, so it is refused here rather than read as a key.
    let unterminated = false;
    while (line.trimEnd().endsWith('\\')) {
      const head = line.trimEnd().slice(0, -1);
      if (i + 1 >= physical.length) {
        line = head;
        break;
      }
      let next = i + 1;
      while (next < physical.length && isCommentOrBlank(physical[next]!)) next++;
      if (next >= physical.length) {
        unterminated = true;
        i = physical.length - 1;
        break;
      }
      line = `${head} ${physical[next]!.replace(/\r$/, '').trim()}`;
      i = next;
    }
    if (unterminated) {
      problems.push(`line ${number}: continued with a backslash by nothing but comments and blank lines to the end of the file (podman drops it): ${JSON.stringify(trimmed.slice(0, 60))}`);
      continue;
    }
    const match = /^\s*(\+?[A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      problems.push(`line ${number}: not a [Section], a comment or Key=Value: ${JSON.stringify(trimmed.slice(0, 60))}`);
      continue;
    }
    current.lines.push({ key: match[1]!, value: match[2]!.trimEnd() });
  }
  return { sections, problems };
}

/** A comment or blank line: skipped inside a continuation, as podman does. */
function isCommentOrBlank(physical: string): boolean {
  const trimmed = physical.trim();
  return trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';');
}

/**
 * Writes sections back as a file: headers, `Key=Value` lines and comments
 * in order, a blank line between sections.
 *
 * @example
 * ```ts
 * formatSections([{ name: 'Container', lines: [{ key: 'Image', value: 'nginx' }] }]); // '[Container]\nImage=nginx\n'
 * ```
 */
export function formatSections(sections: readonly QuadletSection[]): string {
  const blocks: string[] = [];
  for (const s of sections) {
    const lines = s.lines.map((l) => ('key' in l ? `${l.key}=${l.value}` : l.text));
    while (lines.length > 0 && lines.at(-1)!.trim() === '') lines.pop();
    if (s.name === '' && lines.length === 0) continue;
    blocks.push([...(s.name === '' ? [] : [`[${s.name}]`]), ...lines].join('\n'));
  }
  return `${blocks.join('\n\n')}\n`;
}
