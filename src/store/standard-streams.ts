import { fstatSync, writeSync } from 'node:fs';

/** Whether a file descriptor is a character device: a terminal is one, a pipe or a file never. */
export function isCharacterDevice(fd: number): boolean {
  try {
    return fstatSync(fd).isCharacterDevice();
  } catch {
    return false;
  }
}

/**
 * Writes to a standard stream's fd (1 or 2) synchronously, as Node itself writes to a terminal or
 * a file. On a pipe (a script reading kpki's output) Node's process.stdout is a net.Socket whose
 * set-up costs a short command about a tenth of its start-up. A pipe the parent left non-blocking
 * (EAGAIN) is handed to Node's stream from then on; once the reader has gone (EPIPE: `kpki … |
 * head`) there is no one left to read the rest.
 */
export function standardStream(fd: number, stream: () => Pick<NodeJS.WritableStream, 'write'>): (text: string) => void {
  let state: 'direct' | 'stream' | 'closed' = 'direct';
  return (text) => {
    if (state === 'stream') stream().write(text);
    if (state !== 'direct') return;
    let data = Buffer.from(text);
    while (data.length) {
      try {
        data = data.subarray(writeSync(fd, data));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') state = 'closed';
        else if (code === 'EAGAIN') {
          state = 'stream';
          stream().write(data);
        } else throw error;
        return;
      }
    }
  };
}
