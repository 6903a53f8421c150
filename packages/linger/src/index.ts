/**
 * @unwind/linger — systemd-logind linger on/off, as undoable steps.
 *
 * @packageDocumentation
 */
export {};
