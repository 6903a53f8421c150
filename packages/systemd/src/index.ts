/**
 * @unwind/systemd — systemd units: install, reload, start/stop/enable, wait for active — as undoable steps.
 *
 * @packageDocumentation
 */
export {};
