/**
 * @unwind/cli — The `unwind` command: status, recover, log, plan.
 *
 * @packageDocumentation
 */
export {};
