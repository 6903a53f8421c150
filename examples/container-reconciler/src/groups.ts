// The split the seed's review asks for: one group says "this account is a
// container user the reconciler owns" (with the GECOS marker), another grants
// a privilege (e.g. sudo to a key-minting helper). When one group did both,
// adding a human to it for the privilege made the reconciler delete them.
// So the managed group must grant nothing: a sudoers rule naming it is
// refused before anything changes.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '@unwind/reconcile';

/**
 * The lines of sudoers (`file`, and every file of `file.d/`) that name
 * `%group` (or `%:group`), as `path:line`. A missing file is none; comments
 * and `#include` lines are not rules.
 *
 * @example
 * ```ts
 * sudoersRulesFor('unwind-containers', '/etc/sudoers'); // ['/etc/sudoers.d/mint:1']
 * ```
 */
export function sudoersRulesFor(group: string, file: string): string[] {
  const files = [file];
  try {
    files.push(...fs.readdirSync(`${file}.d`).filter((n) => !n.startsWith('.') && !n.endsWith('~')).sort().map((n) => join(`${file}.d`, n)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const escaped = group.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const names = new RegExp(`(^|[\\s,=!(])%:?${escaped}(?=[\\s,=)]|$)`);
  const found: string[] = [];
  for (const path of files) {
    let text: string;
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') continue;
      throw error;
    }
    text.split('\n').forEach((line, i) => {
      const rule = line.trim();
      if (rule === '' || rule.startsWith('#')) return;
      if (names.test(rule)) found.push(`${path}:${i + 1}`);
    });
  }
  return found;
}

/**
 * Problems of the group settings, before anything changes: the privilege
 * group must not be the managed group, and no sudoers rule may name the
 * managed group.
 *
 * @example
 * ```ts
 * groupProblems({ group: 'unwind-containers', privilegeGroup: 'mint-key', prefix: undefined }); // []
 * ```
 */
export function groupProblems(s: { group: string; privilegeGroup?: string | undefined; prefix?: string | undefined }, sudoers?: string): Problem[] {
  const problems: Problem[] = [];
  if (s.privilegeGroup !== undefined && s.privilegeGroup === s.group) {
    problems.push({ message: `the privilege group and the managed group are both "${s.group}": one group must not mean both "owned by the reconciler" and a privilege` });
  }
  const file = sudoers ?? join(s.prefix ?? '/', 'etc/sudoers');
  let rules: string[];
  try {
    rules = sudoersRulesFor(s.group, file);
  } catch (error) {
    return [...problems, { message: `cannot read sudoers (${file}) to check that the managed group "${s.group}" grants nothing: ${(error as Error).message}` }];
  }
  if (rules.length > 0) {
    problems.push({ message: `sudoers grants the managed group "%${s.group}" a privilege (${rules.join(', ')}): membership of it decides what the reconciler owns and may delete; grant the privilege to a separate group (--privilege-group) instead` });
  }
  return problems;
}
