import { keyOf } from './db.js';

/**
 * Field-level access to database lines, so an undo changes only the fields
 * and list members its step changed, never whole lines.
 */

/** Index of the member list in a group line (`name:x:gid:members`). */
export const GROUP_MEMBERS = 3;
/** Index of the administrator list in a gshadow line (`name:pw:admins:members`). */
export const GSHADOW_ADMINS = 2;
/** Index of the member list in a gshadow line. */
export const GSHADOW_MEMBERS = 3;

/** The line of `key` in `lines`, or undefined. */
export function entryOf(lines: readonly string[], key: string): string | undefined {
  return lines.find((l) => keyOf(l) === key);
}

/** The comma-separated list in field `index` of a line. */
export function listAt(line: string, index: number): string[] {
  const field = line.split(':')[index];
  return field ? field.split(',').filter(Boolean) : [];
}

/** The line with `name` inserted into the list at field `index`, at `position` (clamped), when it is not there yet. */
export function withMember(line: string, index: number, name: string, position: number): string {
  const fields = line.split(':');
  const list = listAt(line, index);
  if (list.includes(name)) return line;
  list.splice(Math.max(0, Math.min(position, list.length)), 0, name);
  fields[index] = list.join(',');
  return fields.join(':');
}

/** The line without `name` in the list at field `index`. */
export function withoutMember(line: string, index: number, name: string): string {
  const fields = line.split(':');
  if (fields.length <= index) return line;
  fields[index] = listAt(line, index).filter((m) => m !== name).join(',');
  return fields.join(':');
}

/** `lines` with the line of `key` replaced by `edit(line)`; unchanged when the key is absent. */
export function mapEntry(lines: readonly string[], key: string, edit: (line: string) => string): string[] {
  return lines.map((l) => (keyOf(l) === key ? edit(l) : l));
}
