/**
 * Something text is written to: a stream, or anything with `write` (tests pass a collector).
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const out: Output = { isTTY: false, write: (text) => lines.push(text) };
 * ```
 */
export interface Output {
  /** Writes text as it is (lines end with `\n`). */
  write(text: string): unknown;
  /** Whether this is a terminal. */
  isTTY?: boolean;
  /** The terminal's width, when it is one. */
  columns?: number;
}

/**
 * Whether to colour output written to `stream`: only on a terminal, never when
 * `NO_COLOR` is set to anything non-empty (https://no-color.org). `FORCE_COLOR`
 * (non-empty, not `0`) turns colour on for a pipe, for people who page through
 * `less -R`; `NO_COLOR` still wins.
 *
 * @example
 * ```ts
 * const style = styler(shouldColor(process.stdout));
 * process.stdout.write(style.red('failed') + '\n');
 * ```
 */
export function shouldColor(stream: Output, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

const codes = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
} as const;

/**
 * A colour name known to {@link styler}.
 *
 * @example
 * ```ts
 * const name: StyleName = 'red';
 * ```
 */
export type StyleName = keyof typeof codes;

/**
 * Functions that wrap text in ANSI colour codes, or return it unchanged when colour is off.
 *
 * @example
 * ```ts
 * const s: Styler = styler(false);
 * s.bold('plain') // 'plain'
 * ```
 */
export type Styler = Record<StyleName, (text: string) => string>;

/**
 * Makes a {@link Styler}. Plain ANSI SGR codes, so the output is the same on
 * every Node version (util.styleText checks streams differently across them).
 *
 * @example
 * ```ts
 * const s = styler(true);
 * s.green('done') // '\x1b[32mdone\x1b[39m'
 * ```
 */
export function styler(enabled: boolean): Styler {
  const out = {} as Styler;
  for (const [name, [open, close]] of Object.entries(codes) as Array<[StyleName, readonly [number, number]]>) {
    out[name] = enabled ? (text) => `\x1b[${open}m${text}\x1b[${close}m` : (text) => text;
  }
  return out;
}
