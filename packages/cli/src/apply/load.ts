import * as fs from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, isNode, parseDocument } from 'yaml';
import { CliError, EXIT } from '../errors.js';
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
 * Parses a transaction file's text: YAML 1.2, which also reads every JSON
 * file (so `.json`, `.yaml` and standard input need no format flag). Every
 * syntax error is reported at once, with its line, as a
 * {@link TransactionFileError}; duplicate keys are errors.
 *
 * @example
 * ```ts
 * const { value } = parseTransactionText('{"name": "x", "steps": []}', 'x.json');
 * ```
 */
export function parseTransactionText(text: string, source: string): ParsedFile {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (document.errors.length > 0) {
    const problems: Problem[] = document.errors.map((e) => {
      const at = lineCounter.linePos(e.pos[0]);
      return { pointer: '', message: e.message.split('\n')[0]!, line: at.line, column: at.col };
    });
    throw new TransactionFileError(source, problems);
  }
  const value: unknown = document.toJS({ maxAliasCount: 100 });
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
 * Reads a transaction file from a path, or standard input for `-`.
 *
 * @example
 * ```ts
 * const parsed = await readTransactionFile('install.yaml', process.cwd());
 * ```
 */
export async function readTransactionFile(file: string, cwd: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<ParsedFile> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    return parseTransactionText(Buffer.concat(chunks).toString('utf8'), 'standard input');
  }
  let text: string;
  try {
    text = fs.readFileSync(resolve(cwd, file), 'utf8');
  } catch (error) {
    throw new CliError(`cannot read transaction file ${file}: ${(error as Error).message}`, EXIT.badInput, { file });
  }
  return parseTransactionText(text, file);
}
