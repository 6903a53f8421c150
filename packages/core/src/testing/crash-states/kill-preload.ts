// Loaded with `--import` before a crash child: counts every mutating
// operation the process makes under the kill roots — each file-system call
// and the end of each command it runs — and SIGKILLs itself right after the
// one numbered UNWIND_KILL_AT. With UNWIND_KILL_COMMAND/SYSCALL/WHEN the kill
// lands inside a command instead: strace stops that command at the WHEN-th
// call of SYSCALL, and this process dies the moment it sees the command die,
// as if the whole process group had been killed at that instant.
// Configuration: see kill-points.ts (killChildEnvironment).
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { installKillCounter } from './kill-counter.js';

const roots = process.env.UNWIND_KILL_ROOTS;
if (roots) {
  const require = createRequire(import.meta.url);
  installKillCounter(require('node:fs'), require('node:child_process'), {
    roots: roots.split('\n').filter(Boolean),
    ...(process.env.UNWIND_KILL_AT ? { killAt: Number(process.env.UNWIND_KILL_AT) } : {}),
    ...(process.env.UNWIND_KILL_COMMAND
      ? { killInside: { command: Number(process.env.UNWIND_KILL_COMMAND), syscall: process.env.UNWIND_KILL_SYSCALL!, when: Number(process.env.UNWIND_KILL_WHEN) } }
      : {}),
    traced: (process.env.UNWIND_KILL_TRACED ?? '').split(',').filter(Boolean),
    tracedSyscalls: (process.env.UNWIND_KILL_TRACED_SYSCALLS ?? '').split(',').filter(Boolean),
    reportDirectory: process.env.UNWIND_KILL_REPORT!,
    ...(process.env.UNWIND_KILL_GATE ? { gate: process.env.UNWIND_KILL_GATE } : {}),
  });
  syncBuiltinESMExports();
}
