import { defineStep } from '@unwind/core';
import { describeScope, ManagerOptions, systemctl, validateManagerOptions } from '../manager.js';
import { TRANSIENT_BUS_RETRY } from '../transient.js';
import { runnerOf } from './common.js';
import * as t from 'io-ts';

/**
 * Runs `systemctl daemon-reload`, for unit files or drop-ins changed by other
 * steps (`installUnit` reloads by itself). Undo reloads again. Note the
 * order: a rollback undoes newest first, so this undo runs *before* the
 * earlier steps put their files back; give those steps their own reload
 * (as `installUnit` has) when the manager must see the restored files.
 *
 * A reload is safe to repeat, so a transient bus error ("Transport endpoint
 * is not connected", "Connection reset by peer", "Failed to connect to
 * bus", seen through `--machine=USER@`) is tried again by default, up to 4
 * times with backoff; any other failure fails the step at once. A step's
 * own `retry.do` option replaces this policy.
 *
 * @example
 * ```ts
 * tx.add(writeFile({ path: '/etc/systemd/system/app.service.d/limits.conf', content }));
 * tx.add(daemonReload({}));
 * ```
 */
export const daemonReload = defineStep({
  type: 'systemd.daemonReload',
  package: '@unwind/systemd',
  args: ManagerOptions,
  before: t.null,
  validate: validateManagerOptions,
  describe: (a) => `daemon-reload${describeScope(a)}`,
  prepare: async () => null,
  wouldChange: async () => true,
  retry: { do: TRANSIENT_BUS_RETRY },
  do: async (a, _before, ctx) => {
    await systemctl(a, runnerOf(ctx), ['daemon-reload']);
  },
  undo: async (a, _before, _after, ctx) => {
    await systemctl(a, runnerOf(ctx), ['daemon-reload']);
  },
});
