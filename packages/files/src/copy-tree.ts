import * as fs from 'node:fs';
import { join } from 'node:path';
import { UnexpectedFileTypeError } from './errors.js';
import { syncFile } from '@unwind/core';

/**
 * Copies a tree preserving type, mode, owner, times and symlinks (never
 * following one), and fsyncs every file and directory it made, so a copy
 * that `copyTree` returned from survives a crash. Used for the opt-in
 * copy-then-delete across filesystems. Hard links become separate files;
 * sockets, fifos and devices are refused.
 */
export function copyTree(source: string, destination: string): void {
  const st = fs.lstatSync(source);
  if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(source), destination);
    fs.lchownSync(destination, st.uid, st.gid);
    return;
  }
  if (st.isDirectory()) {
    fs.mkdirSync(destination, { mode: 0o700 });
    for (const name of fs.readdirSync(source)) copyTree(join(source, name), join(destination, name));
  } else if (st.isFile()) {
    fs.copyFileSync(source, destination, fs.constants.COPYFILE_EXCL);
  } else {
    throw new UnexpectedFileTypeError(`${source} is not a file, directory or symlink; cannot copy it across filesystems`, { path: source });
  }
  fs.lchownSync(destination, st.uid, st.gid);
  fs.chmodSync(destination, st.mode & 0o7777);
  fs.utimesSync(destination, st.atime, st.mtime);
  syncFile(destination);
}

/** Removes a tree if present (never following symlinks); true when something was removed. */
export function removeTree(path: string): boolean {
  try {
    fs.lstatSync(path);
  } catch {
    return false;
  }
  fs.rmSync(path, { recursive: true, force: true });
  return true;
}
