import { createRequire } from 'node:module';
import type * as Graphene from 'graphene-pk11';
import type * as P11 from 'node-webcrypto-p11';
import { ErrorCode, KpkiError } from '../errors.js';
import { describeTokenKey, type Pkcs11Uri } from '../model/pkcs11-uri.js';
import type { KeyType } from '../pki/key-types.js';
import { algorithmFor, publicKeyFromDer } from '../pki/keys.js';
import type { TokenKey } from '../pki/signing-key.js';
import type { TokenCa } from '../plan/decide.js';

/**
 * CA keys in PKCS#11 tokens. The provider (node-webcrypto-p11, a native addon over the module the
 * user names) is an optional peer dependency loaded here only, by the commands that use a token:
 * no other command pays for loading it.
 */
const PROVIDER = 'node-webcrypto-p11';

/** Where Debian, Fedora and source builds put SoftHSM's and OpenSC's modules: tried in order. */
export const DEFAULT_MODULES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/softhsm/libsofthsm2.so`,
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/opensc-pkcs11.so`,
  '/usr/lib64/opensc-pkcs11.so',
  '/usr/lib/opensc-pkcs11.so',
];

interface Provider {
  p11: typeof P11;
  graphene: typeof Graphene;
}

async function loadProvider(): Promise<Provider> {
  try {
    const p11 = (await import('node-webcrypto-p11')) as typeof P11;
    // graphene-pk11 is the provider's own dependency: resolved from where the provider is.
    const graphene = createRequire(createRequire(import.meta.url).resolve(PROVIDER))('graphene-pk11') as typeof Graphene;
    return { p11, graphene };
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    const notInstalled = (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && message?.includes(`'${PROVIDER}'`);
    const why = notInstalled ? 'is not installed' : `cannot be loaded: ${message?.split('\n')[0]}`;
    throw new KpkiError(ErrorCode.MissingPackage, `CA keys in a PKCS#11 token need ${PROVIDER}, which ${why}`, {
      subject: PROVIDER,
      hint: `install it beside kpki (it builds a native addon with node-gyp): npm install ${PROVIDER}@2`,
    });
  }
}

const tokenError = (subject: string, message: string, hint: string) =>
  new KpkiError(ErrorCode.BadInput, `${subject}: ${message}`, { subject, hint });

/** PKCS#11 return values whose meaning the user can act on. */
const CKR_PIN_INCORRECT = 0xa0;
const CKR_PIN_LEN_RANGE = 0xa2;
const CKR_PIN_LOCKED = 0xa4;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;

/** The keys of the URIs that address one token, with the session they are found and made in. */
export interface TokenKeys {
  /** Each named CA's key as the token holds it (undefined: no such object yet). */
  cas: Map<string, TokenCa>;
  /** Makes the key of a named CA in its token (not extractable, sensitive); undefined for other names. */
  make(name: string, keyType: KeyType): Promise<TokenKey> | undefined;
  /** Makes a key at a URI of its own (a rotation's incoming CA key): refused when the token already holds one there. */
  makeAt(uri: Pkcs11Uri, keyType: KeyType): Promise<TokenKey>;
  /** Deletes the key pair a URI names (a rotation's retired or abandoned CA key); nothing when there is none. */
  destroyAt(uri: Pkcs11Uri): Promise<void>;
  /** Logs out and unloads the modules. */
  close(): void;
}

export interface TokenOptions {
  /** `--pkcs11-module`; else the URI's module-path; else the first of DEFAULT_MODULES that loads. */
  module?: string;
  /** Asked once per token, only when a token is opened. */
  pin: () => Promise<string>;
}

function loadModule(graphene: typeof Graphene, file: string | undefined): { module: Graphene.Module; file: string } {
  const candidates = file ? [file] : DEFAULT_MODULES;
  const failures: string[] = [];
  for (const candidate of candidates) {
    let module: Graphene.Module;
    try {
      module = graphene.Module.load(candidate);
    } catch (error) {
      failures.push(`${candidate}: ${(error as Error).message.split('\n')[0]}`);
      continue;
    }
    try {
      module.initialize();
    } catch (error) {
      if ((error as { code?: number }).code !== CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw tokenError(
          candidate,
          `the PKCS#11 module does not initialize: ${(error as Error).message}`,
          'check the module and its configuration (SoftHSM: SOFTHSM2_CONF)',
        );
      }
    }
    return { module, file: candidate };
  }
  if (file)
    throw tokenError(
      `--pkcs11-module ${file}`,
      `does not load: ${failures[0]?.slice(file.length + 2)}`,
      'give the path of the PKCS#11 module (.so) of your token',
    );
  throw tokenError(
    '--pkcs11-module',
    `no PKCS#11 module found (tried ${DEFAULT_MODULES.join(', ')})`,
    'install SoftHSM or OpenSC, or give the module with --pkcs11-module PATH',
  );
}

/** One open token: a logged-in session, the provider's WebCrypto over it, and the same with its operations queued. */
interface OpenToken {
  crypto: P11.Crypto;
  queued: Crypto;
}

/**
 * The provider's Crypto with every operation on the session taken one at a time: a PKCS#11
 * session runs one operation at once (CKR_OPERATION_ACTIVE otherwise), and rendering signs many
 * certificates at once.
 */
function queuedCrypto(crypto: P11.Crypto): { queued: Crypto; run: <T>(operation: () => Promise<T>) => Promise<T> } {
  let tail: Promise<unknown> = Promise.resolve();
  const run = <T>(operation: () => Promise<T>): Promise<T> => {
    const result = tail.then(operation);
    tail = result.catch(() => undefined);
    return result;
  };
  const subtle = Object.create(crypto.subtle) as SubtleCrypto;
  for (const name of ['sign', 'verify', 'digest', 'exportKey', 'generateKey', 'importKey'] as const) {
    const original = (crypto.subtle[name] as (...args: unknown[]) => Promise<unknown>).bind(crypto.subtle);
    Object.defineProperty(subtle, name, { value: (...args: unknown[]) => run(() => original(...args)) });
  }
  const queued = Object.create(crypto) as Crypto;
  Object.defineProperty(queued, 'subtle', { value: subtle });
  return { queued, run };
}

/**
 * Opens the tokens the URIs name (each once, logged in with the PIN) and finds each CA's key.
 * Every failure is a one-line error naming the module, token or object; nothing is written.
 */
export async function openTokenKeys(uris: ReadonlyMap<string, Pkcs11Uri>, options: TokenOptions): Promise<TokenKeys> {
  const { p11, graphene } = await loadProvider();
  const modules = new Map<string, Graphene.Module>();
  const tokens = new Map<string, OpenToken>();
  let pin: Promise<string> | undefined;
  const close = () => {
    for (const token of tokens.values()) token.crypto.close();
    for (const module of modules.values()) {
      try {
        module.finalize();
      } catch {
        // Already finalized by the provider: nothing left to release.
      }
    }
  };
  try {
    const open = async (uri: Pkcs11Uri): Promise<OpenToken> => {
      const { module, file } = loadModule(graphene, options.module ?? uri.modulePath);
      modules.set(file, module);
      const slots = module.getSlots(true);
      const labels: string[] = [];
      for (let i = 0; i < slots.length; i++) {
        const slot = slots.items(i);
        const token = slot.getToken();
        const label = token.label.trim();
        if (label) labels.push(label);
        if ((uri.token !== undefined && label !== uri.token) || (uri.serial !== undefined && token.serialNumber.trim() !== uri.serial))
          continue;
        const key = `${file}\0${i}`;
        const known = tokens.get(key);
        if (known) return known;
        const session = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
        let given: string;
        try {
          given = await (pin ??= options.pin());
        } catch (error) {
          session.close();
          throw error;
        }
        const crypto = new p11.Crypto({ session });
        try {
          crypto.login(given);
        } catch (error) {
          crypto.close();
          const code = (error as { code?: number }).code;
          const name = describeTokenKey(uri).split(',')[0]!;
          if (code === CKR_PIN_INCORRECT || code === CKR_PIN_LEN_RANGE)
            throw tokenError(
              name,
              'the PIN is wrong',
              'give the user PIN in KPKI_PKCS11_PIN, with --pin-file FILE or at the prompt; nothing was written',
            );
          if (code === CKR_PIN_LOCKED)
            throw tokenError(name, 'the PIN is locked (too many wrong tries)', "unlock it with the token's SO PIN");
          throw tokenError(name, `login failed: ${(error as Error).message}`, 'check the token and its PIN');
        }
        const opened = { crypto, queued: queuedCrypto(crypto).queued };
        tokens.set(key, opened);
        return opened;
      }
      const wanted = uri.token !== undefined ? `no token labelled "${uri.token}"` : `no token with serial ${uri.serial}`;
      throw tokenError(
        describeTokenKey(uri),
        `${wanted} in ${file}${labels.length ? ` (it has ${labels.map((l) => `"${l}"`).join(', ')})` : ' (it has no initialized token)'}`,
        'check token= in --ca-key-uri, or --pkcs11-module',
      );
    };

    const cas = new Map<string, TokenCa>();
    const opened = new Map<string, { token: OpenToken; uri: Pkcs11Uri }>();
    for (const [name, uri] of uris) {
      const token = await open(uri);
      opened.set(name, { token, uri });
      cas.set(name, { label: describeTokenKey(uri), key: await findKey(token.crypto, token.queued, uri) });
    }
    const make = (name: string, keyType: KeyType): Promise<TokenKey> | undefined => {
      const entry = opened.get(name);
      if (!entry) return undefined;
      // Later placements of the same run (a cluster's nodes) find the key this one made.
      return generateKey(entry.token.queued, entry.uri, keyType).then((key) => (cas.set(name, { ...cas.get(name)!, key }), key));
    };
    const makeAt = async (uri: Pkcs11Uri, keyType: KeyType): Promise<TokenKey> => {
      const token = await open(uri);
      if (await findKey(token.crypto, token.queued, uri))
        throw tokenError(describeTokenKey(uri), 'already holds a key', 'delete that object, or run the step again (a new one is named)');
      return generateKey(token.queued, uri, keyType);
    };
    const destroyAt = async (uri: Pkcs11Uri): Promise<void> => {
      const token = await open(uri);
      for (const key of await keysAt(token.crypto, uri, true)) (key.p11Object as Graphene.SessionObject).destroy();
    };
    return { cas, make, makeAt, destroyAt, close };
  } catch (error) {
    close();
    throw error;
  }
}

/** The private key the URI names (and its public key object, for its public half), or undefined. */
async function findKey(crypto: P11.Crypto, queued: Crypto, uri: Pkcs11Uri): Promise<TokenKey | undefined> {
  const indexes = await crypto.keyStorage.keys();
  const found = await keysAt(crypto, uri, false);
  const label = describeTokenKey(uri);
  if (found.length > 1) throw tokenError(label, `names ${found.length} private keys`, 'add id=… to --ca-key-uri to pick one');
  const privateKey = found[0];
  if (!privateKey) return undefined;
  const id = (privateKey.p11Object as Graphene.PrivateKey).id.toString('hex');
  const publicIndex = indexes.find((i) => i.startsWith('public-') && i.split('-')[2] === id);
  if (!publicIndex)
    throw tokenError(
      label,
      'has no public key object beside the private key',
      'kpki reads the public half from the token; import the public key with the same CKA_ID',
    );
  const publicKey = await crypto.keyStorage.getItem(publicIndex);
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', publicKey));
  const signing =
    privateKey.algorithm.name === 'ECDSA'
      ? privateKey
      : await crypto.keyStorage.getItem(found[0]!.id, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as RsaHashedImportParams, false, [
          'sign',
        ]);
  return { kind: 'token', privateKey: signing as unknown as CryptoKey, publicKey: publicKeyFromDer(spki), crypto: queued, label };
}

/** The private keys a URI names (and, with `withPublic`, their public keys of the same label or id). */
async function keysAt(crypto: P11.Crypto, uri: Pkcs11Uri, withPublic: boolean): Promise<P11.CryptoKey[]> {
  const found: P11.CryptoKey[] = [];
  for (const index of await crypto.keyStorage.keys()) {
    if (!index.startsWith('private-') && !(withPublic && index.startsWith('public-'))) continue;
    const key = await crypto.keyStorage.getItem(index);
    const object = key.p11Object as Graphene.PrivateKey;
    if (uri.object !== undefined && object.label !== uri.object) continue;
    if (uri.id !== undefined && object.id.toString('hex') !== uri.id) continue;
    found.push(key);
  }
  return found;
}

/** A new CA key in the token: sensitive, never extractable, labelled with the URI's object. */
async function generateKey(queued: Crypto, uri: Pkcs11Uri, keyType: KeyType): Promise<TokenKey> {
  const label = describeTokenKey(uri);
  if (uri.object === undefined) throw tokenError(label, 'is to be created but names no object', 'add object=KEY-LABEL to --ca-key-uri');
  let pair: CryptoKeyPair;
  try {
    const algorithm = {
      ...(algorithmFor(keyType) as RsaHashedKeyGenParams | EcKeyGenParams),
      label: uri.object,
      token: true,
      sensitive: true,
    };
    pair = (await queued.subtle.generateKey(algorithm, false, ['sign', 'verify'])) as CryptoKeyPair;
  } catch (error) {
    throw tokenError(
      label,
      `the token did not make a ${keyType} key: ${(error as Error).message}`,
      'choose a --key-type the token supports',
    );
  }
  if (uri.id !== undefined) {
    const id = Buffer.from(uri.id, 'hex');
    for (const key of [pair.privateKey, pair.publicKey] as unknown as P11.CryptoKey[]) key.p11Object.setAttribute({ id });
  }
  const spki = Buffer.from(await queued.subtle.exportKey('spki', pair.publicKey));
  return { kind: 'token', privateKey: pair.privateKey, publicKey: publicKeyFromDer(spki), crypto: queued, label };
}
