// Writes the JSON Schema of transaction files, generated from the shipped
// step kinds' codecs, to the package (schema/) and the docs (docs/schemas/).
// Run after changing a kind's arguments: node --import tsx packages/cli/scripts/write-schema.ts
// The schema test fails while the published files differ from the codecs.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { loadKinds } from '../src/kinds.js';
import { transactionFileSchema } from '../src/apply/schema.js';
import { FORMAT_VERSION } from '../src/apply/file-format.js';

const packageDir = join(import.meta.dirname, '..');
const { kinds, skipped } = await loadKinds();
if (skipped.length > 0) throw new Error(`every shipped adapter must load: ${skipped.map((s) => `${s.from}: ${s.reason}`).join('; ')}`);
const text = `${JSON.stringify(transactionFileSchema(kinds), null, 2)}\n`;
for (const dir of [join(packageDir, 'schema'), join(packageDir, '../../docs/schemas')]) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(join(dir, `transaction-file.v${FORMAT_VERSION}.json`), text);
}
console.log(`wrote transaction-file.v${FORMAT_VERSION}.json for ${kinds.length} step kinds`);
