/** Files as the core sees them: what was read, by path, and what is to be written. */

/** Bytes read by path; a path that is absent was not there. */
export type Observed = ReadonlyMap<string, Buffer>;

/** One file to write, whole, with its mode. */
export interface FileWrite {
  path: string;
  data: string | Buffer;
  mode: number;
}
