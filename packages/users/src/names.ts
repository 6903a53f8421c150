import { InvalidInputError, LONGEST_TIMER_MS, validateAbsolutePath, validateName } from '@unwind/core';

/**
 * shadow's default rule for user and group names (without --badname).
 *
 * @example
 * ```ts
 * NAME_PATTERN.test('app-user'); // true
 * ```
 */
export const NAME_PATTERN = /^[a-z_][a-z0-9_-]*[$]?$/;
/**
 * The longest name the shadow tools accept on common systems.
 *
 * @example
 * ```ts
 * name.length <= NAME_MAX;
 * ```
 */
export const NAME_MAX = 32;

/**
 * Checks a user name against shadow's rules before it reaches a command line.
 * Throws InvalidInputError.
 *
 * @example
 * ```ts
 * validateUserName('alice'); // 'alice'
 * validateUserName('-rf');   // throws
 * ```
 */
export function validateUserName(value: unknown, what = 'user name'): string {
  return validateName(value, { what, pattern: NAME_PATTERN, maxLength: NAME_MAX });
}

/**
 * Checks a group name against shadow's rules. Throws InvalidInputError.
 *
 * @example
 * ```ts
 * validateGroupName('managed'); // 'managed'
 * ```
 */
export function validateGroupName(value: unknown, what = 'group name'): string {
  return validateName(value, { what, pattern: NAME_PATTERN, maxLength: NAME_MAX });
}

/**
 * Checks the fields every users step may carry: the prefix root, the deny
 * list, ids. Throws InvalidInputError.
 *
 * @example
 * ```ts
 * validateCommon({ prefix: '/srv/root', protect: ['admin'] });
 * ```
 */
export function validateCommon(args: { prefix?: string; protect?: string[]; commandTimeoutMs?: number }): void {
  validateMilliseconds(args.commandTimeoutMs, 'commandTimeoutMs', 1);
  if (args.prefix !== undefined) {
    validateAbsolutePath(args.prefix, { what: 'prefix' });
    if (args.prefix === '/') throw new InvalidInputError('prefix "/" is the machine itself; leave prefix unset instead', { prefix: args.prefix });
  }
  for (const name of args.protect ?? []) validateUserName(name, 'protected user name');
}

/**
 * Checks a step's `homeBase`: an absolute, normalised path, and not `/` —
 * every path is below `/`, so as a home base it would let a home field of
 * `/etc` or `/usr` count as a removable home. Throws InvalidInputError.
 *
 * @example
 * ```ts
 * validateHomeBase('/srv/homes');
 * validateHomeBase('/'); // InvalidInputError: home base "/" is the root directory ...
 * ```
 */
export function validateHomeBase(value: string | undefined): void {
  if (value === undefined) return;
  validateAbsolutePath(value, { what: 'home base' });
  if (value.replace(/\/+$/, '') === '') throw new InvalidInputError('home base "/" is the root directory: every path is below it, so no home would be kept from removal; name the directory homes live in (/home)', { homeBase: value });
}

/**
 * Checks a uid or gid: a whole number in 0..2^32-2.
 *
 * @example
 * ```ts
 * validateId(1500, 'uid');
 * ```
 */
export function validateId(value: number | undefined, what: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 0 || value > 4294967294) throw new InvalidInputError(`${what} ${value} must be an integer from 0 to 4294967294`, { what, value });
}

/** The longest delay setTimeout honours: beyond it Node fires at once (and a shadow tool would be killed mid-write). */
export const MAX_DELAY_MS = LONGEST_TIMER_MS;

/**
 * Checks a duration in ms: a whole number from `min` to {@link MAX_DELAY_MS}.
 * NaN and Infinity are refused too: the journal would keep them as null, and
 * recovery could then never decode the step to undo it. Throws InvalidInputError.
 *
 * @example
 * ```ts
 * validateMilliseconds(5000, 'graceMs', 0);
 * validateMilliseconds(Number.NaN, 'commandTimeoutMs', 1); // throws
 * ```
 */
export function validateMilliseconds(value: number | undefined, what: string, min: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > MAX_DELAY_MS) throw new InvalidInputError(`${what} ${value} must be an integer from ${min} to ${MAX_DELAY_MS}`, { what, value: String(value) });
}

/**
 * Checks a shell or comment field: no ':' or newline (they would break the passwd line).
 *
 * @example
 * ```ts
 * validateField('/bin/bash', 'shell');
 * ```
 */
export function validateField(value: string | undefined, what: string): void {
  validatePasswdField(value, what);
  if (value?.startsWith('-')) throw new InvalidInputError(`${what} ${JSON.stringify(value)} must not start with "-"`, { what, value });
}

/**
 * Checks only what a passwd field can hold: no ':', newline or NUL. For
 * values read from an account and journaled (a comment its user set with
 * `chfn`, which may start with '-'): the shadow tools get them as the
 * argument of an option (`-c VALUE`, its own argv element), never as an
 * option. Throws InvalidInputError.
 *
 * @example
 * ```ts
 * validatePasswdField('-alice', 'journaled comment'); // fine
 * validatePasswdField('a:b', 'journaled comment');    // throws
 * ```
 */
export function validatePasswdField(value: string | undefined, what: string): void {
  if (value === undefined) return;
  if (/[:\n\r\0]/.test(value)) throw new InvalidInputError(`${what} ${JSON.stringify(value)} must not contain ":", newlines or NUL`, { what, value });
}
