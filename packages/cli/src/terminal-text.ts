/*
 * A journal is data anyone who once ran a transaction (or planted a file) may
 * have written, and a command's output is whatever the command printed: both
 * reach people's terminals through `status`, `log`, `recover` and `apply`.
 * A raw ESC, BEL or C1 byte there is an instruction to the terminal (set the
 * title, clear the screen, move the cursor to fake a line), so human output
 * shows them escaped. JSON escapes C0 itself; printJson escapes DEL and C1.
 *
 * The escaping lives in @unwind/progress, so programs that show progress
 * without this command have it too: `printable` (one field), `printableData`
 * (every string of an event or a journal's state), and `errorLine` /
 * `errorDetails`, which return their text escaped. `renderProgress` escapes
 * every event itself. Escaping twice changes nothing (`printable` keeps
 * backslashes), so text escaped here may pass through progress again.
 */
export { errorDetails, errorLine, printable, printableData } from '@unwind/progress';
