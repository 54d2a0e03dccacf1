/**
 * A quiet start. Dawn writes two warnings straight to the process's stderr from C++ when
 * it enumerates a Vulkan adapter whose driver reports huge limits (llvmpipe does):
 * "maxDynamic{Uniform,Storage}BuffersPerPipelineLayout artificially reduced from 1000000
 * to 16 to fit dynamic offset allocation limit" (dawn::WarningLog: no callback, no
 * toggle). The clamp does not concern ringshard (it binds no buffer with a dynamic
 * offset), and the lines landed in every server's log, twice per device.
 *
 * So while an adapter is requested, file descriptor 2 points at a temp file (dup/dup2
 * through koffi, an FFI with prebuilt binaries); afterwards it points back, those two
 * known lines are dropped, and everything else written meanwhile (by Dawn or by any
 * other thread of the process) is written to stderr as it was. fd 2 belongs to the whole
 * process, so the threads that do this take turns (flock on a lock file of the process).
 * Where libc cannot be loaded (not Linux), stderr is left alone.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';

/** The lines dropped: Dawn's limit clamp, harmless here. */
export const DAWN_LIMIT_WARNING = /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

const LOCK_EX = 2;
const LOCK_UN = 8;

interface Libc {
  dup(fd: number): number;
  dup2(from: number, to: number): number;
  close(fd: number): number;
  flock(fd: number, op: number): number;
}

let libc: Libc | null | undefined;

/** The process's lock file (its threads share the pid, so the file). */
const LOCK_PATH = join(tmpdir(), `ringshard-stderr-${process.pid}.lock`);
// The main thread (every process that runs a cluster loads this module there) removes it
// as the process exits; without this, every process left one in the temp directory.
if (isMainThread) process.once('exit', () => rmSync(LOCK_PATH, { force: true }));

async function loadLibc(): Promise<Libc | null> {
  if (libc !== undefined) return libc;
  try {
    if (process.platform !== 'linux') throw new Error('not Linux');
    const koffi = (await import('koffi')).default;
    const lib = koffi.load('libc.so.6');
    libc = {
      dup: lib.func('int dup(int)') as Libc['dup'],
      dup2: lib.func('int dup2(int, int)') as Libc['dup2'],
      close: lib.func('int close(int)') as Libc['close'],
      flock: lib.func('int flock(int, int)') as Libc['flock'],
    };
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * Runs `fn` with Dawn's known limit warnings kept off stderr (see the module comment);
 * what else is written to stderr meanwhile still gets there, once `fn` settles.
 */
export async function withoutDawnLimitWarnings<T>(fn: () => Promise<T>): Promise<T> {
  const c = await loadLibc();
  if (!c) return fn();
  const lock = openSync(LOCK_PATH, 'w');
  const file = join(tmpdir(), `ringshard-stderr-${process.pid}-${threadId}.txt`);
  let saved = -1;
  let capture = -1;
  try {
    c.flock(lock, LOCK_EX);
    capture = openSync(file, 'w+');
    saved = c.dup(2);
    if (saved >= 0 && c.dup2(capture, 2) < 0) {
      c.close(saved);
      saved = -1; // stderr stays as it was
    }
    return await fn();
  } finally {
    if (saved >= 0) {
      c.dup2(saved, 2);
      c.close(saved);
    }
    c.flock(lock, LOCK_UN);
    closeSync(lock);
    if (capture >= 0) {
      closeSync(capture);
      passOn(file);
    }
  }
}

/** Writes what was captured to stderr, but for the known lines; removes the file. */
function passOn(file: string): void {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } finally {
    rmSync(file, { force: true });
  }
  if (text === '') return;
  const kept = text.split('\n');
  const last = kept.pop()!; // '' after a final newline, else an unfinished line
  const out = kept.filter((line) => !DAWN_LIMIT_WARNING.test(line)).map((line) => `${line}\n`).join('') + last;
  if (out !== '') writeSync(2, out);
}
