/**
 * Small durable-file helpers shared by the embedded log, its checkpoints and the lander: atomic replace
 * (write tmp, fsync, rename, fsync the directory) and directory fsync. On Linux a rename is only durable once
 * the directory entry itself has been fsynced, hence the extra step.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

/** fsyncs a directory so that creates, renames and unlinks inside it survive power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs an existing file's contents. */
export async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `file` with `contents` so that a crash leaves either the old or the new version, never a mix. */
export async function writeFileAtomic(file: string, contents: string | Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
