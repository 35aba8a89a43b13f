import { badFlag } from '../errors.js';
import { readPinFile } from '../store/pin-file.js';

/**
 * Where a token's user PIN comes from, asked only when a token is opened: KPKI_PKCS11_PIN, the
 * --pin-file (0600), else a prompt when stdin and stderr are a terminal. Never a command-line value.
 */
export function pinSource(pinFile: string | undefined): () => Promise<string> {
  return async () => {
    if (pinFile) return readPinFile(pinFile);
    const fromEnv = process.env.KPKI_PKCS11_PIN;
    if (fromEnv) return fromEnv;
    if (!process.stdin.isTTY || !process.stderr.isTTY) {
      throw badFlag(
        '--pin-file',
        'the CA keys are in a PKCS#11 token and no PIN was given (no terminal to ask on)',
        'set KPKI_PKCS11_PIN or pass --pin-file FILE (mode 0600)',
      );
    }
    return promptHidden('token user PIN: ');
  };
}

/** Reads one line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  // Echo off before the question shows: what is typed at once must not be echoed by the terminal.
  stdin.setRawMode(true);
  process.stderr.write(question);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003') return done(badFlag('--pin-file', 'no PIN was typed (interrupted)'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.on('data', onData);
  });
}
