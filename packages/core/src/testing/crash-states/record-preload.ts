// Loaded with `--import` before the code under test: patches node:fs so every
// file-system operation under UNWIND_RECORD_ROOT is appended to
// UNWIND_RECORD_TRACE. ESM importers see the patched functions too, because
// syncBuiltinESMExports() copies the module object onto the named exports.
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { installRecorder } from './recorder.js';

const root = process.env.UNWIND_RECORD_ROOT;
const trace = process.env.UNWIND_RECORD_TRACE;
if (root && trace) {
  installRecorder(createRequire(import.meta.url)('node:fs'), root, trace);
  syncBuiltinESMExports();
}
