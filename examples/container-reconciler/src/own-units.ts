// The reconciler's own service and timer in the system manager, with the
// boot ordering quadlet-deploy asks for: the first run a while after boot,
// once logind (and so lingering users' managers) is up, then periodically.
import { InvalidInputError, type Step } from '@unwind/core';
import { daemonReload, enable, installUnit, start } from '@unwind/systemd';

/**
 * An argv as one systemd `ExecStart=` value: each word double-quoted, with
 * `\` and `"` escaped and `$` and `%` doubled (no variable or specifier expansion).
 *
 * @example
 * ```ts
 * execLine(['/usr/bin/node', '/opt/cr/main.js', '--desired', '/srv/desired']); // '"/usr/bin/node" "/opt/cr/main.js" …'
 * ```
 */
export function execLine(argv: readonly string[]): string {
  if (argv.length === 0 || !argv[0]!.startsWith('/')) throw new InvalidInputError('the reconciler command needs an absolute program path', { argv: [...argv] });
  for (const word of argv) if (/[\0\n\r]/.test(word)) throw new InvalidInputError('a command word may not hold NUL or line breaks', { word });
  return argv.map((w) => `"${w.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '$$$$').replace(/%/g, '%%')}"`).join(' ');
}

/**
 * The reconciler's service (a oneshot that wants and is ordered after logind and the network)
 * and its timer (`OnBootSec`, then `OnUnitActiveSec`; wanted by `timers.target`).
 *
 * @example
 * ```ts
 * const { service, timer } = reconcilerUnits({ command: ['/usr/local/bin/container-reconciler', '--desired', '/srv/desired', '--state', '/var/lib/cr'] });
 * ```
 */
export function reconcilerUnits(options: { name?: string; command: readonly string[]; onBootSec?: string; interval?: string }) {
  const name = options.name ?? 'container-reconciler';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new InvalidInputError(`${name} is not a unit name`, { name });
  const time = /^\d+(us|ms|s|min|h|d)?$/;
  const onBootSec = options.onBootSec ?? '2min';
  const interval = options.interval ?? '15min';
  for (const value of [onBootSec, interval]) if (!time.test(value)) throw new InvalidInputError(`${value} is not a systemd time span`, { value });
  const service = [
    '[Unit]',
    'Description=Reconcile containers to their desired state',
    // The users' managers run once logind has started them (linger): reconcile only after that.
    // Wants= with After= for each, as quadlet-deploy's review asks: an ordering alone does not pull
    // logind in, and a boot where it is not wanted would let the first run race it.
    'Wants=network-online.target systemd-logind.service',
    'After=network-online.target systemd-logind.service systemd-user-sessions.service',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${execLine(options.command)}`,
    '',
  ].join('\n');
  const timer = [
    '[Unit]',
    `Description=Run ${name}.service after boot and then periodically`,
    '',
    '[Timer]',
    `OnBootSec=${onBootSec}`,
    `OnUnitActiveSec=${interval}`,
    `Unit=${name}.service`,
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
  return { service: { unit: `${name}.service`, content: service }, timer: { unit: `${name}.timer`, content: timer } };
}

/**
 * The steps that install both units into the system manager, enable the
 * timer and start it; each undone newest first on failure.
 *
 * @example
 * ```ts
 * for (const step of reconcilerUnitSteps({ command: ['/usr/local/bin/container-reconciler', '--desired', '/srv/desired', '--state', '/var/lib/cr'] })) tx.add(step);
 * ```
 */
export function reconcilerUnitSteps(options: Parameters<typeof reconcilerUnits>[0]): Array<Step<any, any, any>> {
  const { service, timer } = reconcilerUnits(options);
  const scope = 'system' as const;
  return [
    installUnit({ scope, unit: service.unit, content: service.content }, { label: 'reconciler service' }),
    installUnit({ scope, unit: timer.unit, content: timer.content }, { label: 'reconciler timer' }),
    daemonReload({ scope }),
    enable({ scope, unit: timer.unit }, { label: 'enable the timer' }),
    start({ scope, unit: timer.unit, settleMs: 200 }, { label: 'start the timer' }),
  ];
}
