import { basename } from 'node:path';

/**
 * The temp-file prefix for a unit file, `.#<unit>.unwind-`. systemd skips
 * hidden files when it reads a unit directory, so a temp file left by a crash
 * is never loaded; undo removes leftovers by this prefix. The writing itself
 * is core's atomic replace.
 */
export function unitTemporaryPrefix(path: string): string {
  // Capped so that prefix + random suffix stay within NAME_MAX (255) for the longest unit names.
  return `.#${basename(path).slice(0, 200)}.unwind-`;
}
