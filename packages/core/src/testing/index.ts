/**
 * Test helpers for step kinds: the conformance suite every kind must pass,
 * a context for calling a kind directly, core's own test kinds, and the
 * environment helpers tests share (children via tsx, mounts, chattr, temp dirs).
 *
 * @packageDocumentation
 */
export { conformanceSuite } from './conformance.js';
export type { ConformanceOptions, ConformanceSandbox } from './conformance.js';
export { testContext } from './context.js';
export { failingStep, noopStep, writeMarker, stagedRemove, testKinds } from './kinds.js';
export { treeState } from './tree.js';
export type { TreeEntry } from './tree.js';
export { cannotChattr, cannotMount, chattr, fileHashes, mountTmpfs, pool, runTypeScript, temporaryDirectory, workspaceRoot } from './environment.js';
export type { ChildOutcome, RunTypeScriptOptions } from './environment.js';
