import { spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { standardStream } from '../../src/store/standard-streams.js';
import { tempDir } from '../support/tmp.js';

/** A named pipe with a non-blocking reader, and a writer opened with `writeFlags`. */
function fifo(writeFlags: number): { reader: number; writer: number } {
  const file = path.join(tempDir(), 'fifo');
  expect(spawnSync('mkfifo', [file]).status).toBe(0);
  const reader = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(file, constants.O_WRONLY | writeFlags);
  opened.push(reader, writer);
  return { reader, writer };
}

/** Everything the pipe holds now. */
function drain(reader: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(65536);
  for (;;) {
    try {
      const n = readSync(reader, buffer);
      if (n === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, n)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw error;
    }
  }
  return Buffer.concat(chunks).toString();
}

/** What a stream given the rest was handed. */
function collectingStream() {
  const written: string[] = [];
  return { written, stream: () => ({ write: (data: string | Uint8Array) => written.push(Buffer.from(data).toString()) > 0 }) };
}

let opened: number[] = [];
afterEach(() => {
  for (const fd of opened) {
    try {
      closeSync(fd);
    } catch {
      // Closed by the test.
    }
  }
  opened = [];
});

describe('standardStream', () => {
  it('writes the whole text to a pipe, in order, without Node’s stream', () => {
    const { reader, writer } = fifo(0);
    const { written, stream } = collectingStream();
    const write = standardStream(writer, stream);
    write('first line\n');
    write(`${'é'.repeat(5000)}\n`);
    expect(drain(reader)).toBe(`first line\n${'é'.repeat(5000)}\n`);
    expect(written).toEqual([]);
  });

  it('hands the rest to Node’s stream when a non-blocking pipe is full (EAGAIN), and keeps to it', () => {
    const { reader, writer } = fifo(constants.O_NONBLOCK);
    const { written, stream } = collectingStream();
    const write = standardStream(writer, stream);
    const big = 'x'.repeat(300_000);
    write(big);
    write('after\n');
    const direct = drain(reader);
    // The pipe took what fitted; nothing was lost or repeated.
    expect(direct.length).toBeGreaterThan(0);
    expect(direct.length).toBeLessThan(big.length);
    expect(direct + written.join('')).toBe(`${big}after\n`);
    expect(written.at(-1)).toBe('after\n');
  });

  it('stops quietly once the reader has gone (EPIPE), as `kpki … | head` expects', () => {
    const { reader, writer } = fifo(0);
    const { written, stream } = collectingStream();
    const write = standardStream(writer, stream);
    closeSync(reader);
    expect(() => write('nobody reads this\n')).not.toThrow();
    expect(() => write('nor this\n')).not.toThrow();
    expect(written).toEqual([]);
  });
});
