/**
 * @unwind/linger — systemd-logind linger on/off, as undoable steps. State is
 * read from the linger directory; changes go through `loginctl`.
 *
 * @packageDocumentation
 * @module @unwind/linger
 */
import { disableLinger } from './disable-linger.js';
import { enableLinger } from './enable-linger.js';

export { enableLinger, disableLinger };
export { isLingering, DEFAULT_LINGER_DIR } from './common.js';
export type { LingerArgs } from './common.js';

/**
 * Every step kind of @unwind/linger, for `recover({ kinds })`.
 *
 * @example
 * ```ts
 * await recover({ root: '/var/lib/app/unwind', kinds: [...lingerKinds] });
 * ```
 */
export const kinds = [enableLinger, disableLinger];
