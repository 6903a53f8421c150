import type * as FileSystem from 'node:fs';
import { resolve } from 'node:path';

/**
 * The files kinds reach what they change through an open directory,
 * `/proc/self/fd/<fd>/<name>` (Node has no openat). The crash-state tools
 * watch paths under their roots, so they see such a path as the directory
 * the descriptor names now plus the rest: exactly where the call lands.
 */
const DESCRIPTOR_PATH = /^\/proc\/(?:self|\d+)\/fd\/(\d+)(\/.*)?$/;

/** `path` made absolute, with a leading `/proc/self/fd/<fd>` replaced by the directory that descriptor has open. */
export function realPathOfCall(path: string, readlink: typeof FileSystem.readlinkSync): string {
  const absolute = resolve(path);
  const match = DESCRIPTOR_PATH.exec(absolute);
  if (!match) return absolute;
  try {
    return resolve(`${readlink(`/proc/self/fd/${match[1]}`) as string}${match[2] ?? ''}`);
  } catch {
    return absolute;
  }
}
