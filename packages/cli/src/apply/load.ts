import * as fs from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import { CliError, EXIT } from '../errors.js';
import { judgeTrustedFile } from '@unwind/core';
import { TransactionFileError, segmentsOf, type Problem } from './problems.js';

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
 * `%YAML` directive naming another version, and the parser's limits (an
 * alias bomb, nesting too deep).
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
