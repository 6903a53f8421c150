/**
 * Test-only instrumentation, deliberately NOT exported from the package
 * index: crash tests import this module directly (same module instance) and
 * set `point` to SIGKILL their own process at the Nth file operation inside
 * snapshot creation or restore; reflink tests set `provenByClone` to see
 * which restored files were not read back. In normal use neither is set and
 * each costs one property read per operation.
 *
 * @internal
 */
export const testHooks: {
  point?: (where: 'create' | 'restore', n: number) => void;
  /** Called for each restored file whose verification the reflink's proof stood in for (it was not read back). */
  provenByClone?: (path: string) => void;
} = {};
