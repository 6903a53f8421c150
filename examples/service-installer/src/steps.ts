// The installer's two read-only phases, "wait until it is active" and
// "verify", as step kinds of this example. They change nothing, so their
// undo has nothing to take back; they are steps so that a failure there rolls
// the whole install back and shows up in the report like any other phase.
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as t from 'io-ts';
import { defaultEnv, defineStep, programFor, InvalidInputError, validateAbsolutePath, VerificationError, type StepContext } from '@unwind/core';
import { isLingering } from '@unwind/linger';
import { ManagerOptions, unitState, UnitNotActiveError, validateUnitName } from '@unwind/systemd';
import { lookupGroup, lookupUser, validateUserName } from '@unwind/users';

const WaitArgs = t.intersection([
  t.type({ unit: t.string }),
  t.partial({
    /** How long the unit may take to become active, ms. Default 30 000. */
    timeoutMs: t.number,
    /** Once active, it must stay active this long (a service that dies at once fails), ms. Default 500. */
    stableMs: t.number,
  }),
  ManagerOptions,
]);
type WaitArgs = t.TypeOf<typeof WaitArgs>;

function probeOptions(a: t.TypeOf<typeof ManagerOptions>, ctx: StepContext) {
  const { scope: _scope, ...rest } = a;
  return { ...rest, exec: ctx.exec, signal: ctx.signal };
}

/**
 * Waits until a unit's ActiveState is `active` (reading `systemctl show`,
 * with a deadline), then checks that it stays active for `stableMs`.
 * `activating` and `reloading` are waited out; `failed`, `inactive` and
 * `deactivating` are a failure at once, with systemd's own reason. Changes
 * nothing.
 *
 * @example
 * ```ts
 * tx.add(waitActive({ unit: 'hello.service', scope: 'user', timeoutMs: 10_000 }));
 * ```
 */
export const waitActive = defineStep({
  type: 'serviceInstaller.waitActive',
  package: '@unwind/example-service-installer',
  args: WaitArgs,
  before: t.null,
  validate: (a) => {
    validateUnitName(a.unit);
    for (const [key, value] of [['timeoutMs', a.timeoutMs], ['stableMs', a.stableMs]] as const) {
      if (value !== undefined && !(value >= 0 && value <= 600_000)) throw new InvalidInputError(`${key} must be between 0 and 600000`, { [key]: value });
    }
  },
  describe: (a) => `wait until ${a.unit} is active`,
  prepare: async () => null,
  do: async (a, _before, ctx) => {
    const deadline = Date.now() + (a.timeoutMs ?? 30_000);
    let delay = 50;
    for (;;) {
      const s = await unitState(a.unit, a.scope, probeOptions(a, ctx));
      if (s.activeState === 'active') break;
      const waiting = s.activeState === 'activating' || s.activeState === 'reloading';
      if (!waiting || Date.now() >= deadline) throw new UnitNotActiveError(a.unit, { ActiveState: s.activeState, SubState: s.subState, waitedMs: a.timeoutMs ?? 30_000 });
      await sleep(delay, undefined, { signal: ctx.signal });
      delay = Math.min(delay * 2, 1000);
    }
    await sleep(a.stableMs ?? 500, undefined, { signal: ctx.signal });
    const s = await unitState(a.unit, a.scope, probeOptions(a, ctx));
    if (s.activeState !== 'active') throw new UnitNotActiveError(a.unit, { ActiveState: s.activeState, SubState: s.subState, stableMs: a.stableMs ?? 500 });
  },
  undo: async () => {},
});

const CheckArgs = t.intersection([
  t.type({
    /** The service: its user, group and unit (`<name>.service`). */
    name: t.string,
    configPath: t.string,
    /** The config file's exact content. */
    config: t.string,
  }),
  t.partial({
    prefix: t.string,
    /** A user manager's service: linger must be on (checked in this directory). */
    lingerDir: t.string,
    /** A system service: its main process must run as the service user. */
    runsAsUser: t.boolean,
  }),
  ManagerOptions,
]);
type CheckArgs = t.TypeOf<typeof CheckArgs>;

/** `systemctl show -p MainPID` for the scope in the args (env given explicitly, like @unwind/systemd does). */
async function mainPid(a: CheckArgs, unit: string, ctx: StepContext): Promise<number> {
  const scope = a.scope ?? 'system';
  const argv = [programFor(a.systemctl, 'systemctl', ctx.phase)];
  const env = defaultEnv();
  if (scope === 'user') {
    argv.push('--user');
    env.XDG_RUNTIME_DIR = a.runtimeDir ?? process.env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? 0}`;
    if (a.home) env.HOME = a.home;
  } else if (scope !== 'system') argv.push('--user', `--machine=${scope.user}@`);
  const r = await ctx.exec({ argv: [...argv, 'show', '-p', 'MainPID', '--value', '--', unit], env, timeoutMs: a.commandTimeoutMs ?? 30_000, signal: ctx.signal });
  return Number(r.stdout.trim());
}

/**
 * The `KEY=value` assignments of an EnvironmentFile as the service's
 * environment gets them: read the way systemd reads the file (its
 * `load_env_file`, systemd.exec(5) EnvironmentFile=), so the check compares
 * what the process really has. Lines whose first non-blank character is `#`
 * or `;` are comments (a backslash at the end continues one); whitespace
 * around the key and around an unquoted value is dropped; in an unquoted
 * value a backslash keeps the next character as it is, and a backslash at
 * the end of a line joins the next; `'...'` keeps everything inside as it
 * is; in `"..."` a backslash escapes only `"`, `\`, `` ` ``, `$` and a
 * newline (dropped), and is kept before anything else; quoted and unquoted
 * parts run together (`A="x"y` is `xy`). A line without `=`, or with a key
 * that is not a valid variable name, is ignored (as systemd does); when a
 * key is assigned twice, the last one counts.
 *
 * @example
 * ```ts
 * assignments('# c\nGREETING=hi\n'); // ['GREETING=hi']
 * assignments('GREETING="hello world"\n'); // ['GREETING=hello world']
 * ```
 */
export function assignments(config: string): string[] {
  const values = new Map<string, string>();
  type State = 'preKey' | 'key' | 'preValue' | 'value' | 'valueEscape' | 'single' | 'double' | 'doubleEscape' | 'comment' | 'commentEscape';
  let state: State = 'preKey';
  let key = '';
  let value = '';
  /** Where trailing whitespace of the key or an unquoted value began, or undefined. */
  let keyWhitespace: number | undefined;
  let valueWhitespace: number | undefined;
  const push = () => {
    const k = keyWhitespace === undefined ? key : key.slice(0, keyWhitespace);
    const v = valueWhitespace === undefined ? value : value.slice(0, valueWhitespace);
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) values.set(k, v);
    key = '';
    value = '';
    keyWhitespace = undefined;
    valueWhitespace = undefined;
  };
  const whitespace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  const newline = (c: string) => c === '\n' || c === '\r';
  for (const c of config) {
    switch (state) {
      case 'preKey':
        if (c === '#' || c === ';') state = 'comment';
        else if (!whitespace(c)) {
          state = 'key';
          key = c;
        }
        break;
      case 'key':
        if (newline(c)) {
          state = 'preKey';
          key = '';
          keyWhitespace = undefined;
        } else if (c === '=') {
          state = 'preValue';
          valueWhitespace = undefined;
        } else {
          if (!whitespace(c)) keyWhitespace = undefined;
          else if (keyWhitespace === undefined) keyWhitespace = key.length;
          key += c;
        }
        break;
      case 'preValue':
        if (newline(c)) {
          state = 'preKey';
          push();
        } else if (c === "'") state = 'single';
        else if (c === '"') state = 'double';
        else if (c === '\\') state = 'valueEscape';
        else if (!whitespace(c)) {
          state = 'value';
          value += c;
        }
        break;
      case 'value':
        if (newline(c)) {
          state = 'preKey';
          push();
        } else if (c === '\\') {
          state = 'valueEscape';
          valueWhitespace = undefined;
        } else {
          if (!whitespace(c)) valueWhitespace = undefined;
          else if (valueWhitespace === undefined) valueWhitespace = value.length;
          value += c;
        }
        break;
      case 'valueEscape':
        state = 'value';
        if (!newline(c)) value += c;
        break;
      case 'single':
        if (c === "'") state = 'preValue';
        else value += c;
        break;
      case 'double':
        if (c === '"') state = 'preValue';
        else if (c === '\\') state = 'doubleEscape';
        else value += c;
        break;
      case 'doubleEscape':
        state = 'double';
        if (c === '"' || c === '\\' || c === '`' || c === '$') value += c;
        else if (c !== '\n') value += `\\${c}`;
        break;
      case 'comment':
        if (c === '\\') state = 'commentEscape';
        else if (newline(c)) state = 'preKey';
        break;
      case 'commentEscape':
        state = 'comment';
        break;
    }
  }
  if (state === 'preValue' || state === 'value' || state === 'valueEscape' || state === 'single' || state === 'double' || state === 'doubleEscape') push();
  return [...values].map(([k, v]) => `${k}=${v}`);
}

/**
 * The installer's last phase: looks at the real system once more, as a
 * whole. The user and group exist and the user's primary group is the
 * group; linger is on (a user manager's service) or the main process runs
 * as the service user (a system service); the config file holds exactly what was written; the
 * unit is loaded, enabled and active; and the running main process has the
 * config's variables in its environment — the service really read its
 * config. Changes nothing.
 *
 * @example
 * ```ts
 * tx.add(checkService({ name: 'hello', configPath, config, lingerDir, prefix, scope: 'user' }));
 * ```
 */
export const checkService = defineStep({
  type: 'serviceInstaller.checkService',
  package: '@unwind/example-service-installer',
  args: CheckArgs,
  before: t.null,
  validate: (a) => {
    validateUserName(a.name);
    validateAbsolutePath(a.configPath, { what: 'config path' });
    if (a.lingerDir !== undefined) validateAbsolutePath(a.lingerDir, { what: 'linger directory' });
    if (a.prefix !== undefined) validateAbsolutePath(a.prefix, { what: 'prefix' });
  },
  describe: (a) => `verify the installed service ${a.name}`,
  prepare: async () => null,
  do: async (a, _before, ctx) => {
    const unit = `${a.name}.service`;
    const problems: string[] = [];
    const lookup = { ...(a.prefix ? { prefix: a.prefix } : {}), exec: ctx.exec, signal: ctx.signal };
    const user = await lookupUser(a.name, lookup);
    const group = await lookupGroup(a.name, lookup);
    if (!user) problems.push(`user ${a.name} does not exist`);
    if (!group) problems.push(`group ${a.name} does not exist`);
    if (user && group && user.gid !== group.gid) problems.push(`user ${a.name} has primary gid ${user.gid}, not ${group.gid} (${a.name})`);
    if (a.lingerDir !== undefined && !isLingering(a.name, { lingerDir: a.lingerDir })) problems.push(`linger is off for ${a.name}`);
    let config: string | undefined;
    try {
      config = fs.readFileSync(a.configPath, 'utf8');
    } catch {
      config = undefined;
    }
    if (config !== a.config) problems.push(`${a.configPath} does not hold the config written`);
    const s = await unitState(unit, a.scope, probeOptions(a, ctx));
    if (s.loadState !== 'loaded') problems.push(`${unit} is ${s.loadState}, not loaded`);
    if (s.unitFileState !== 'enabled') problems.push(`${unit} is ${s.unitFileState || 'without a unit file'}, not enabled`);
    if (s.activeState !== 'active') problems.push(`${unit} is ${s.activeState}, not active`);
    else {
      const pid = await mainPid(a, unit, ctx);
      let environ: string[] = [];
      try {
        environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      } catch {
        problems.push(`cannot read the environment of ${unit}'s main process (pid ${pid})`);
      }
      const missing = assignments(a.config).filter((kv) => !environ.includes(kv));
      if (environ.length > 0 && missing.length > 0) problems.push(`${unit}'s main process (pid ${pid}) did not get ${missing.join(', ')} from its config`);
      if (a.runsAsUser && user) {
        const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
        if (Number(uid) !== user.uid) problems.push(`${unit}'s main process (pid ${pid}) runs as uid ${uid}, not as ${a.name} (${user.uid})`);
      }
    }
    if (problems.length > 0) throw new VerificationError(`the installed service does not hold: ${problems.join('; ')}`, { name: a.name, problems });
  },
  undo: async () => {},
});

/**
 * The kinds of this example, for `recover({ kinds })` together with the
 * adapters' kinds.
 *
 * @example
 * ```ts
 * await recover({ root, kinds: [...installerKinds] });
 * ```
 */
export const kinds = [waitActive, checkService];
