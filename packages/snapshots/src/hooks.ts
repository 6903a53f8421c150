/**
 * Test-only instrumentation, deliberately NOT exported from the package
 * index: crash tests import this module directly (same module instance) and
 * set `point` to SIGKILL their own process at the Nth file operation inside
 * snapshot creation or restore. In normal use it is never set and costs one
 * property read per operation.
 *
 * @internal
 */
export const testHooks: { point?: (where: 'create' | 'restore', n: number) => void } = {};
