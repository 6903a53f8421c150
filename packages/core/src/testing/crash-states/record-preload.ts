// Loaded with `--import` before the code under test: patches node:fs (and
// child_process.spawn, for what commands change) so every file-system
// operation under UNWIND_RECORD_ROOT is appended to UNWIND_RECORD_TRACE. ESM
// importers see the patched functions too, because syncBuiltinESMExports()
// copies the module objects onto the named exports.
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { installCommandRecorder } from './command-effects.js';
import { installRecorder } from './recorder.js';

const root = process.env.UNWIND_RECORD_ROOT;
const trace = process.env.UNWIND_RECORD_TRACE;
if (root && trace) {
  const require = createRequire(import.meta.url);
  const context = installRecorder(require('node:fs'), root, trace);
  installCommandRecorder(require('node:child_process'), context);
  syncBuiltinESMExports();
}
