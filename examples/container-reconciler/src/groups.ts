// The split the seed's review asks for: one group says "this account is a
// container user the reconciler owns" (with the GECOS marker), another grants
// a privilege (e.g. sudo to a key-minting helper). When one group did both,
// adding a human to it for the privilege made the reconciler delete them.
// So the managed group must grant nothing: a sudoers rule naming it is
// refused before anything changes.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { runCommandSync, UnwindError } from '@unwind/core';
import type { Problem } from '@unwind/reconcile';

/**
 * A sudoers rule line mentions the managed group (its name or `#gid`) in a
 * form {@link sudoersRulesFor} does not read as a group reference or as
 * none: it cannot tell whether the line grants the group something, so it
 * refuses. Code SUDOERS_UNCLEAR; nothing was changed.
 *
 * @example
 * ```ts
 * try { sudoersRulesFor('cusers', '/etc/sudoers', 990); } catch (error) { if (error instanceof SudoersUnclearError) console.error(error.context.line); }
 * ```
 */
export class SudoersUnclearError extends UnwindError<'SUDOERS_UNCLEAR'> {
  constructor(group: string, line: string, text: string) {
    super('SUDOERS_UNCLEAR', `${line} mentions the managed group "${group}" in a form this check does not understand (${JSON.stringify(text.slice(0, 80))}); write it as %${group} (or remove it) so it can be checked`, { context: { group, line, text } });
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The lines of sudoers (`file`, and every file of `file.d/`) that name the
 * group, as `path:line`, in any of the forms of sudoers(5): `%name`,
 * `%"name"`, `%#gid` (when `gid` is given), `%"#gid"`, each also as a
 * non-Unix group (`%:name`, ...), with backslash escapes. A missing file is
 * none; comments and `#include`/`@include` lines are not rules. A rule line
 * that mentions the name (as a whole word) or `%...#gid` in another form is
 * refused with {@link SudoersUnclearError}.
 *
 * @example
 * ```ts
 * sudoersRulesFor('unwind-containers', '/etc/sudoers', 990); // ['/etc/sudoers.d/mint:1']
 * ```
 */
export function sudoersRulesFor(group: string, file: string, gid?: number): string[] {
  const files = [file];
  try {
    files.push(...fs.readdirSync(`${file}.d`).filter((n) => !n.startsWith('.') && !n.endsWith('~')).sort().map((n) => join(`${file}.d`, n)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const ids = [escapeRegExp(group), ...(gid === undefined ? [] : [`#${gid}`])];
  const forms = ids.flatMap((id) => [id, `"${id}"`]).join('|');
  // After `%` and the optional `:` of a non-Unix group; before what ends a name in a rule.
  const names = new RegExp(`(^|[\\s,=!(:])%:?(?:${forms})(?=[\\s,=):]|$)`, 'g');
  // Any other mention: the name as a whole word (not a part of a path: `/usr/bin/NAME` names a
  // command), or a `%` reference to the gid.
  const mentions = new RegExp(`(^|[^A-Za-z0-9_.$/-])${escapeRegExp(group)}(?![A-Za-z0-9_.$/-])${gid === undefined ? '' : `|%[:"]*#${gid}(?![0-9])`}`);
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
      // A `#` starts a comment unless a uid or gid follows it (`#1000`, `%#990`); directives are no rules.
      const trimmed = line.trim();
      if (trimmed === '' || /^[#@]include(dir)?\b/.test(trimmed)) return;
      if (trimmed.startsWith('#') && !/^#\d/.test(trimmed)) return;
      const rule = trimmed.replace(/\s#(?!\d).*$/, '').replace(/\\(.)/g, '$1');
      if (rule.replace(names, '$1').match(mentions) !== null) throw new SudoersUnclearError(group, `${path}:${i + 1}`, rule);
      if (rule.match(names) !== null) found.push(`${path}:${i + 1}`);
    });
  }
  return found;
}

/** The gid of `group` from the prefix's etc/group, or the machine's (NSS, through getent); undefined when there is none. */
function gidOf(group: string, prefix: string | undefined): number | undefined {
  let line: string | undefined;
  if (prefix) {
    try {
      line = fs.readFileSync(join(prefix, 'etc/group'), 'utf8').split('\n').find((l) => l.split(':')[0] === group);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  } else {
    const result = runCommandSync({ argv: ['getent', 'group', group], okExitCodes: [0, 2], timeoutMs: 15_000 });
    line = result.exitCode === 0 ? result.stdout.split('\n')[0] : undefined;
  }
  const gid = line?.split(':')[2];
  return gid !== undefined && /^\d+$/.test(gid) ? Number(gid) : undefined;
}

/**
 * Problems of the group settings, before anything changes: the privilege
 * group must not be the managed group, and no sudoers rule may name the
 * managed group (by name or by gid, looked up in the prefix or the
 * machine's user database), nor mention it in a form the check does not
 * understand.
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
    rules = sudoersRulesFor(s.group, file, gidOf(s.group, s.prefix));
  } catch (error) {
    if (error instanceof SudoersUnclearError) return [...problems, { message: `${error.message}: membership of the managed group decides what the reconciler owns and may delete, and it must grant nothing` }];
    return [...problems, { message: `cannot read sudoers (${file}) to check that the managed group "${s.group}" grants nothing: ${(error as Error).message}` }];
  }
  if (rules.length > 0) {
    problems.push({ message: `sudoers grants the managed group "%${s.group}" a privilege (${rules.join(', ')}): membership of it decides what the reconciler owns and may delete; grant the privilege to a separate group (--privilege-group) instead` });
  }
  return problems;
}
