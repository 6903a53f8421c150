/**
 * The test helpers that need no test framework: a context for calling a kind
 * directly, core's own test kinds, tree snapshots, and the environment helpers
 * tests share (children via tsx, mounts, chattr, temp dirs), and the
 * crash-state explorer (power loss, not just SIGKILL), a throw-away
 * machine with systemd as PID 1, and a private systemd user manager
 * (`startSandboxManager`). Usable from
 * `node:test`, jest or vitest; `@unwind/core/testing` adds the vitest
 * conformance suite.
 *
 * @packageDocumentation
 */
export { testContext } from './context.js';
export { failingStep, noopStep, paddedResultStep, writeMarker, stagedRemove, testKinds } from './kinds.js';
export { treeState } from './tree.js';
export type { TreeEntry } from './tree.js';
export { cannotChattr, cannotMount, chattr, fileHashes, mountTmpfs, pool, requireHere, runTypeScript, temporaryDirectory, workspaceRoot } from './environment.js';
export { goneWithin } from './process-gone.js';
export type { ChildOutcome, RunTypeScriptOptions } from './environment.js';
export { exploreCrashStates } from './crash-states/explore.js';
export { exploreRecoveryCrashStates } from './crash-states/explore-recovery.js';
export type { RecoveryStart } from './crash-states/explore-recovery.js';
export type { CrashExplorationOptions, CrashExplorationReport, Divergence, RunStepsConfig } from './crash-states/explore.js';
export { killAtEveryOperation } from './crash-states/kill-points.js';
export type { KillFailure, KillPoint, KillPointOptions, KillPointReport, KillWorld } from './crash-states/kill-points.js';
export { killAtRandomTimes } from './crash-states/random-kills.js';
export type { RandomKillOptions, RandomKillReport } from './crash-states/random-kills.js';
export { recordOperations } from './crash-states/record.js';
export { kindsChild } from './crash-states/kinds-child.js';
export { readTrace } from './crash-states/trace.js';
export type { Trace, TraceOperation } from './crash-states/trace.js';
export { seededRandom } from './crash-states/states.js';
export { killSeed } from './crash-states/kill-seed.js';
export { killBudget, killSample } from './crash-states/kill-sample.js';
export { addSteps } from './injection.js';
export type { StepInjection, TestHooks } from './injection.js';
export { runSteps } from './run-steps.js';
export { replaceFsFunction } from './replace-fs-function.js';
export type { FsFunctionName } from './replace-fs-function.js';
export { commandOutput, machineUser, settled, waitFor } from './machine-users.js';
export type { MachineUser } from './machine-users.js';
export { enableLingerSettled, settledLinger } from './machine-linger.js';
export type { LingerView } from './machine-linger.js';
export { cannotStartSandboxManager, startSandboxManager } from './sandbox-manager.js';
export type { SandboxManager } from './sandbox-manager.js';
export { bootMachine, cannotBootMachine, MACHINE_STOP_WITHIN_MS, MachineBootError, MachineLeftoverError, notInsideMachine } from './machine.js';
export type { Machine, MachineCommandOptions, MachineOptions } from './machine.js';
