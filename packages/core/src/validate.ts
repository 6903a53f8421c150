import { isAbsolute, normalize } from 'node:path';
import { InvalidInputError } from './errors.js';

/**
 * Rules for a name that will reach a command line.
 *
 * @example
 * ```ts
 * const rules: NameRules = { what: 'user name', pattern: /^[a-z_][a-z0-9_-]*[$]?$/, maxLength: 32 };
 * validateName('app', rules); // returns 'app'; '-rf' or 'a b' would throw InvalidInputError
 * ```
 */
export interface NameRules {
  /** What the name is, for the error message: `user name`, `unit name`. */
  what: string;
  /** Allowed shape. Default: letters, digits, `_`, `-`, `.`, starting with a letter, digit or `_`. */
  pattern?: RegExp;
  maxLength?: number;
}

const DEFAULT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Checks a name before it reaches a command line: no spaces, shell
 * characters, leading dash (which a program would read as an option), path
 * separators, or overlong names. Throws {@link InvalidInputError}.
 *
 * @example
 * ```ts
 * validateName('-rf', { what: 'user name', maxLength: 32 }); // throws: must not start with "-"
 * ```
 */
export function validateName(value: unknown, rules: NameRules): string {
  const { what } = rules;
  if (typeof value !== 'string' || value.length === 0) throw new InvalidInputError(`${what} must be a non-empty string`, { what, value });
  const max = rules.maxLength ?? 64;
  if (value.length > max) throw new InvalidInputError(`${what} ${JSON.stringify(value.slice(0, 40))}… is longer than ${max} characters`, { what, value, maxLength: max });
  if (value.startsWith('-')) throw new InvalidInputError(`${what} ${JSON.stringify(value)} must not start with "-" (a program would read it as an option)`, { what, value });
  if (value.includes('/')) throw new InvalidInputError(`${what} ${JSON.stringify(value)} must not contain "/"`, { what, value });
  if (/[\s\0]/.test(value)) throw new InvalidInputError(`${what} ${JSON.stringify(value)} must not contain whitespace or NUL`, { what, value });
  if (!(rules.pattern ?? DEFAULT_NAME).test(value)) throw new InvalidInputError(`${what} ${JSON.stringify(value)} must match ${rules.pattern ?? DEFAULT_NAME}`, { what, value });
  return value;
}

/**
 * Checks that a path is absolute, normalised, and (when `within` is given)
 * inside that directory. Throws {@link InvalidInputError}.
 *
 * @example
 * ```ts
 * validateAbsolutePath('/srv/app/../etc/passwd', { what: 'target', within: '/srv/app' }); // throws
 * ```
 */
export function validateAbsolutePath(value: unknown, options: { what: string; within?: string }): string {
  const { what } = options;
  if (typeof value !== 'string' || value.length === 0) throw new InvalidInputError(`${what} must be a non-empty path`, { what, value });
  if (value.includes('\0')) throw new InvalidInputError(`${what} must not contain NUL`, { what, value });
  if (!isAbsolute(value)) throw new InvalidInputError(`${what} ${JSON.stringify(value)} must be an absolute path`, { what, value });
  if (normalize(value) !== value && normalize(value) !== value.replace(/\/+$/, '')) {
    throw new InvalidInputError(`${what} ${JSON.stringify(value)} must be normalised (no "..", ".", or "//")`, { what, value });
  }
  if (options.within !== undefined) {
    const root = normalize(options.within).replace(/\/+$/, '');
    if (value !== root && !value.startsWith(`${root}/`)) throw new InvalidInputError(`${what} ${JSON.stringify(value)} is outside ${root}`, { what, value, within: root });
  }
  return value;
}
