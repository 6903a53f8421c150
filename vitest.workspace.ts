/**
 * The single list of test projects. vitest 4 no longer reads this file by
 * itself; `vitest.config.ts` imports it and passes it as `test.projects`.
 */
export default [
  'packages/*/vitest.config.ts',
  'examples/*/vitest.config.ts',
  'security/vitest.config.ts',
  'vitest.machine.config.ts',
];
