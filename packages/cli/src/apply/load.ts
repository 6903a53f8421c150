import * as fs from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, isMap, isNode, isPair, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { CliError, EXIT } from '../errors.js';
import { judgeTrustedFile } from '@unwind/core';
import { TransactionFileError, pointerOf, segmentsOf, type Problem } from './problems.js';

/**
 * A parsed transaction file: its value, and where each value was in the text.
 *
 * @example
 * ```ts
 * const parsed = parseTransactionText(text, 'install.yaml');
 * parsed.locate('/steps/0/args/path'); // { line: 5, column: 11 }
 * ```
 */
export interface ParsedFile {
  /** `install.yaml`, or `standard input`. */
  source: string;
  value: unknown;
  /** Line and column (1-based) of the value at a JSON pointer, when it is in the text. */
  locate(pointer: string): { line: number; column: number } | undefined;
}

/**
 * Parses a transaction file's text: YAML 1.2 (core schema, no `<<` merge
 * keys), which also reads every JSON file (so `.json`, `.yaml` and standard
 * input need no format flag). Every syntax error is reported at once, with
 * its line, as a {@link TransactionFileError}; so are duplicate keys, a
 * `%YAML` directive naming another version, an integer written with a
 * leading zero (`0755`: decimal 755 in YAML 1.2, not octal; write `0o755`),
 * and the parser's limits (an alias bomb, nesting too deep).
 *
 * @example
 * ```ts
 * const { value } = parseTransactionText('{"name": "x", "steps": []}', 'x.json');
 * ```
 */
export function parseTransactionText(text: string, source: string): ParsedFile {
  const lineCounter = new LineCounter();
  const problemAt = (message: string, pos = 0): Problem => {
    const at = lineCounter.linePos(pos);
    return { pointer: '', message: message.split('\n')[0]!, line: at.line, column: at.col };
  };
  let document: Document.Parsed;
  let value: unknown;
  try {
    // Always YAML 1.2's core schema without merge keys, whatever a %YAML directive says: under 1.1,
    // `yes` is true, 0644 octal, 1:30 is 90, and `<<` merges maps past the duplicate-key check.
    document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, version: '1.2', schema: 'core', merge: false });
    const problems = [...document.errors, ...document.warnings].map((e) => problemAt(e.message, e.pos[0]));
    const { explicit, version } = document.directives?.yaml ?? {};
    if (explicit && version !== '1.2') problems.push(problemAt(`only YAML 1.2 is read: remove the %YAML directive (another version would change what yes, 0644, 1:30 and << mean)`));
    // YAML 1.2 reads 0755 as the decimal 755 (octal 1363: world-writable, sticky), not the octal mode it looks like.
    for (const { pointer, source: written, pos } of leadingZeroIntegers(document.contents, text, [])) problems.push({ ...problemAt(leadingZeroMessage(written), pos), pointer });
    if (problems.length > 0) throw new TransactionFileError(source, problems);
    value = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    if (error instanceof TransactionFileError) throw error;
    // The parser's own limits (an alias bomb: ReferenceError; nesting too deep for the stack: RangeError) are file problems too.
    const message = error instanceof RangeError ? `nested too deeply to read (${error.message})` : `cannot be read: ${(error as Error).message}`;
    throw new TransactionFileError(source, [problemAt(message)]);
  }
  return {
    source,
    value,
    locate(pointer) {
      const node: unknown = document.getIn(segmentsOf(pointer), true);
      if (!isNode(node) || !node.range) return undefined;
      const at = lineCounter.linePos(node.range[0]);
      return { line: at.line, column: at.col };
    },
  };
}

/** An integer written with a leading zero (`0755`, `-012`): octal to the eye, decimal to YAML 1.2. */
const LEADING_ZERO_INTEGER = /^[-+]?0\d+$/;

/**
 * Every integer scalar (value or key) written with a leading zero, with its
 * JSON pointer, its text as written and its offset in `text`. Aliases are not
 * followed: the anchored node is visited where it is written.
 */
function leadingZeroIntegers(node: unknown, text: string, at: Array<string | number>): Array<{ pointer: string; source: string; pos: number }> {
  if (isScalar(node)) {
    if (typeof node.value !== 'number' && typeof node.value !== 'bigint') return [];
    const written = (node.source ?? (node.range ? text.slice(node.range[0], node.range[1]) : '')).trim();
    return LEADING_ZERO_INTEGER.test(written) ? [{ pointer: pointerOf(at), source: written, pos: node.range?.[0] ?? 0 }] : [];
  }
  if (isSeq(node)) return node.items.flatMap((item, index) => leadingZeroIntegers(item, text, [...at, index]));
  if (isMap(node)) {
    return node.items.flatMap((pair) => {
      if (!isPair(pair)) return [];
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      return [...leadingZeroIntegers(pair.key, text, [...at, key]), ...leadingZeroIntegers(pair.value, text, [...at, key])];
    });
  }
  return [];
}

/** What to write instead of `written` (`0755`): `0o755` for the octal it looks like, or the decimal without the zeros. */
function leadingZeroMessage(written: string): string {
  const sign = /^[-+]/.test(written) ? written[0]! : '';
  const digits = written.slice(sign.length).replace(/^0+(?=\d)/, '');
  const decimal = `${sign === '-' ? '-' : ''}${digits}`;
  const read = `${written} is read as the decimal ${decimal} (YAML 1.2 has no leading-zero octal)`;
  if (sign !== '-' && /^[0-7]+$/.test(digits)) return `${read}: write 0o${digits} for the octal ${Number.parseInt(digits, 8)} (in JSON, ${Number.parseInt(digits, 8)}), or ${decimal} for the decimal`;
  return `${read}: write ${decimal} without the leading zero`;
}

/**
 * Reads a transaction file from a path, or standard input for `-`. A path
 * is refused ({@link CliError}, exit 4, before it is read) unless only root
 * or the running user can change it, like a `--kinds` module: the file,
 * every directory above it and every symlink on the way (core's
 * `assertTrustedFile`). What it says, the process does.
 *
 * @example
 * ```ts
 * const parsed = await readTransactionFile('install.yaml', process.cwd());
 * ```
 */
export async function readTransactionFile(file: string, cwd: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<ParsedFile> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stdin) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += bytes.length;
      // Refused as it comes, not after: a writer that never stops would otherwise fill the memory.
      if (size > MAX_TRANSACTION_FILE_BYTES) throw tooLarge('standard input', '-');
      chunks.push(bytes);
    }
    return parseTransactionText(Buffer.concat(chunks).toString('utf8'), 'standard input');
  }
  // What the file says, this process does, usually as root: only root or the running user may be able to change it.
  const judged = judgeTrustedFile(resolve(cwd, file), 'transaction file');
  if ('reason' in judged) {
    throw new CliError(`refusing to apply ${file}: ${judged.reason}; it would direct what this process changes (only root or the running user may be able to change it; or pass it on standard input, as -)`, EXIT.badInput, { file });
  }
  // A path that does not resolve is never read by its name: what appears there a moment later was not judged.
  if ('missing' in judged) throw new CliError(`cannot read transaction file ${file}: it does not resolve (${judged.missing})`, EXIT.badInput, { file });
  let text: string;
  try {
    if (fs.statSync(judged.real).size > MAX_TRANSACTION_FILE_BYTES) throw tooLarge(file, file);
    text = fs.readFileSync(judged.real, 'utf8');
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read transaction file ${file}: ${(error as Error).message}`, EXIT.badInput, { file });
  }
  return parseTransactionText(text, file);
}

/** The largest transaction file `apply` reads: far above any real one (a step is a few hundred bytes), far below what would hurt. */
const MAX_TRANSACTION_FILE_BYTES = 16 * 1024 * 1024;

function tooLarge(shown: string, file: string): CliError {
  return new CliError(`refusing to apply ${shown}: larger than ${MAX_TRANSACTION_FILE_BYTES / 1024 / 1024} MiB, the most a transaction file may be`, EXIT.badInput, { file });
}
