/**
 * The command line of a program built on unwind: its options, one command
 * word from a fixed list, `-h/--help`, and the answer every such program
 * gives to a mistake — the problem and the usage on stderr, exit 64 (EX_USAGE)
 * — before anything is touched.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
/** One option's value as parseArgs gives it. */
type OptionValue<C> = C extends { type: 'boolean' } ? (C extends { multiple: true } ? boolean[] : boolean) : C extends { multiple: true } ? string[] : string;
/**
 * The values parseArgs gives for `O` (spelled out rather than taken from
 * parseArgs' own generic type, which the published .d.ts could not carry):
 * an option with a default is always there, any other may be absent.
 */
type OptionValues<O extends OptionsConfig> = { -readonly [K in keyof O as O[K] extends { default: unknown } ? K : never]: OptionValue<O[K]> } & {
  -readonly [K in keyof O as O[K] extends { default: unknown } ? never : K]?: OptionValue<O[K]>;
} & { help: boolean };

/**
 * What {@link parseCommandLine} read: the command word and the options'
 * values, typed from the option declarations.
 *
 * @example
 * ```ts
 * const line: CommandLine<{ real: { type: 'boolean' } }> = { command: 'install', values: { real: true, help: false } };
 * ```
 */
export interface CommandLine<O extends OptionsConfig> {
  readonly command: string;
  readonly values: OptionValues<O>;
}

/**
 * How a program's command line looks: its options (`help` is added), the
 * command words it accepts, the one used when none is given, and the usage
 * text printed with `--help` and after every mistake.
 *
 * @example
 * ```ts
 * const spec: CommandLineSpec<{ sandbox: { type: 'string' } }> = { options: { sandbox: { type: 'string' } }, commands: ['install', 'recover'], defaultCommand: 'install', usage: 'usage: installer [install|recover] [--sandbox DIR]' };
 * ```
 */
export interface CommandLineSpec<O extends OptionsConfig> {
  readonly options: O;
  readonly commands: readonly string[];
  readonly defaultCommand: string;
  readonly usage: string;
}

/**
 * Reads `argv` against `spec`. Returns the command and values, or the exit
 * code to end with at once: 0 after printing the usage for `--help`, 64
 * after printing the problem and the usage for an unknown option, a missing
 * value, an unknown command word or more than one.
 *
 * @example
 * ```ts
 * const line = parseCommandLine(argv, { options: { real: { type: 'boolean', default: false } }, commands: ['install', 'recover'], defaultCommand: 'install', usage: USAGE }, process.stdout, process.stderr);
 * if (typeof line === 'number') return line;
 * if (line.command === 'recover') return recoverInstall();
 * ```
 */
export function parseCommandLine<const O extends OptionsConfig>(argv: readonly string[], spec: CommandLineSpec<O>, out: NodeJS.WritableStream, err: NodeJS.WritableStream): CommandLine<O> | number {
  const options: OptionsConfig = { ...spec.options, help: { type: 'boolean', short: 'h', default: false } };
  let parsed: { values: OptionValues<O>; positionals: string[] };
  try {
    const result = parseArgs({ args: [...argv], allowPositionals: true, options });
    parsed = { values: result.values as OptionValues<O>, positionals: result.positionals };
  } catch (error) {
    err.write(`${(error as Error).message}\n${spec.usage}\n`);
    return 64;
  }
  if (parsed.values.help) {
    out.write(`${spec.usage}\n`);
    return 0;
  }
  const command = parsed.positionals[0] ?? spec.defaultCommand;
  if (!spec.commands.includes(command) || parsed.positionals.length > 1) {
    err.write(`unknown command: ${parsed.positionals.join(' ')}\n${spec.usage}\n`);
    return 64;
  }
  return { command, values: parsed.values };
}
