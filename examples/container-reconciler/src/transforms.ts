// quadlet-deploy's transforms: a sub-directory DIR of the desired repository
// holds .container files that get the transform DIR.container (from the
// transform directory) merged in. In a transform, `Key=Value` is a default
// (used only when the container's section does not set Key) and `+Key=Value`
// is put before the container's own lines (for keys that take many values,
// such as ExecStartPre= or After=). A sub-directory without a transform is an
// error, never skipped.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '@unwind/reconcile';
import { parseSections, type QuadletLine, type QuadletSection } from './quadlet-file.js';

/** The extension of a transform file (transforms apply to `.container` files). */
export const TRANSFORM_SUFFIX = '.container';

/**
 * Reads every `NAME.container` of the transform directory: a missing
 * directory means no transforms; a file that does not parse, a symlink or a
 * stray entry is a problem.
 *
 * @example
 * ```ts
 * const { transforms, problems } = readTransforms('/etc/container-reconciler/transforms');
 * transforms.has('tailscale'); // true when tailscale.container is there
 * ```
 */
export function readTransforms(dir: string): { transforms: Map<string, QuadletSection[]>; problems: Problem[] } {
  const transforms = new Map<string, QuadletSection[]>();
  const problems: Problem[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { transforms, problems };
    return { transforms, problems: [{ message: `cannot read the transform directory ${dir}: ${(error as Error).message}` }] };
  }
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith(TRANSFORM_SUFFIX) || entry.name.startsWith('.')) {
      problems.push({ message: `transform ${entry.name}: not a regular NAME${TRANSFORM_SUFFIX} file` });
      continue;
    }
    const parsed = parseSections(fs.readFileSync(join(dir, entry.name), 'utf8'));
    if (parsed.problems.length > 0) problems.push({ message: `transform ${entry.name}: ${parsed.problems.join('; ')}` });
    else transforms.set(entry.name.slice(0, -TRANSFORM_SUFFIX.length), parsed.sections);
  }
  return { transforms, problems };
}

const isKey = (l: QuadletLine): l is { key: string; value: string } => 'key' in l;
const unprefixed = (l: { key: string; value: string }) => ({ key: l.key.slice(1), value: l.value });

/**
 * A container file's sections with a transform merged in (neither is changed).
 *
 * @example
 * ```ts
 * applyTransform(parseSections('[Container]\nImage=app\n').sections, parseSections('[Container]\nNetwork=none\n+Label=a\n').sections);
 * // [Container]: Label=a, Image=app, Network=none
 * ```
 */
export function applyTransform(spec: readonly QuadletSection[], transform: readonly QuadletSection[]): QuadletSection[] {
  const merged: QuadletSection[] = [];
  const seen = new Set<string>();
  for (const section of spec) {
    seen.add(section.name);
    const extra = transform.filter((t) => t.name === section.name).flatMap((t) => t.lines.filter(isKey));
    const own = new Set(section.lines.filter(isKey).map((l) => l.key));
    merged.push({
      name: section.name,
      lines: [
        ...extra.filter((l) => l.key.startsWith('+')).map(unprefixed),
        ...section.lines,
        ...extra.filter((l) => !l.key.startsWith('+') && !own.has(l.key)),
      ],
    });
  }
  for (const section of transform) {
    if (seen.has(section.name)) continue;
    seen.add(section.name);
    const lines = transform.filter((t) => t.name === section.name).flatMap((t) => t.lines.filter(isKey));
    merged.push({ name: section.name, lines: lines.map((l) => (l.key.startsWith('+') ? unprefixed(l) : l)) });
  }
  return merged;
}
