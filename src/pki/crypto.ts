import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's native WebCrypto covers RSA and ECDSA key generation and signing; its jobs run on the
// libuv thread pool, so concurrent key generation uses every core without blocking the event loop.
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
