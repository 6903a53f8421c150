/**
 * Every `code` an error raised by unwind (core, the adapters, the command
 * line) can carry. Codes are stable: a program may switch on them.
 *
 * @example
 * ```ts
 * const known = new Set<string>(ERROR_CODES);
 * if (!known.has(code)) console.error(`not an unwind error code: ${code}`);
 * ```
 */
export const ERROR_CODES = [
  // core
  'ABORTED',
  'COMMAND_ABORTED',
  'COMMAND_FAILED',
  'COMMAND_NOT_FOUND',
  'COMMAND_TIMEOUT',
  'DURABLE_WRITE',
  'INVALID_INPUT',
  'IRREVERSIBLE_STEP',
  'JOURNAL_CORRUPT',
  'JOURNAL_DECODE',
  'JOURNAL_FORMAT',
  'JOURNAL_WRITE',
  'LOCK_ERROR',
  'LOCK_HELD',
  'NON_RETRYABLE',
  'RESULT_UNAVAILABLE',
  'STEP_TIMEOUT',
  'TRANSACTION_STARTED',
  'UNDO_CONFLICT',
  'UNFINISHED_TRANSACTION',
  'UNKNOWN_STEP_TYPE',
  'UNSAFE_DIRECTORY',
  'UNTRUSTED_JOURNAL',
  'VERIFY_FAILED',
  // @unwind/files and @unwind/users
  'CROSS_DEVICE',
  'NO_PROC',
  'RESTORE_FAILED',
  'SYMLINK_REFUSED',
  'TARGET_CHANGED',
  'TARGET_EXISTS',
  'UNEXPECTED_FILE_TYPE',
  'UNSAFE_PATH',
  'VALIDATE_COMMAND_FAILED',
  // @unwind/snapshots
  'RESTORE_NOT_VERIFIED',
  'SNAPSHOT_CORRUPT',
  'SNAPSHOT_CREATE_FAILED',
  'SNAPSHOT_INCOMPLETE',
  'SNAPSHOT_NOT_FOUND',
  'SNAPSHOT_PINNED',
  'SNAPSHOT_SOURCE_CHANGED',
  'SNAPSHOT_UNSUPPORTED_ENTRY',
  'SNAPSHOT_UNSAFE_TREE',
  // @unwind/users
  'GROUP_NOT_FOUND',
  'IMMOVABLE_HOME',
  'LOCKED_MEMBERSHIP',
  'PROTECTED_USER',
  'SHADOW_LOCKED',
  'UNSAFE_LOCK_FILE',
  'UNSAFE_HOME',
  'USER_BUSY',
  'USER_CONFLICT',
  'USER_NOT_FOUND',
  // @unwind/systemd
  'USER_MANAGER_UNREACHABLE',
  'USER_MANAGER_DEPENDENCY',
  // @unwind/reconcile
  'RECONCILE_CONFLICT',
  'RECONCILE_INVALID_INPUT',
  // @unwind/cli
  'CLI_ERROR',
  'INVALID_TRANSACTION_FILE',
  'UNRESOLVED_REFERENCE',
  'UNSUPPORTED_CODEC',
] as const;

/**
 * The code of an error raised by unwind: a string-literal union, so a
 * `switch` over it is checked by the compiler.
 *
 * @example
 * ```ts
 * function advice(code: ErrorCode): string {
 *   switch (code) {
 *     case 'LOCK_HELD': return 'another run is in progress';
 *     case 'UNFINISHED_TRANSACTION': return 'run unwind recover first';
 *     default: return 'see the message';
 *   }
 * }
 * ```
 */
export type ErrorCode = (typeof ERROR_CODES)[number];

const known: ReadonlySet<string> = new Set(ERROR_CODES);

/**
 * Whether a value is one of unwind's {@link ErrorCode}s.
 *
 * @example
 * ```ts
 * isErrorCode('LOCK_HELD'); // true
 * isErrorCode('ENOENT'); // false: a system error's code
 * ```
 */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && known.has(value);
}
