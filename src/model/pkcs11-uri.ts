import { badFlag } from '../errors.js';

/**
 * A key addressed by an RFC 7512 PKCS#11 URI: `pkcs11:token=k8s;object=cluster-ca`. kpki reads
 * the token (by label or serial), the object's label and CKA_ID, and `module-path`; `pin-source`
 * is ignored (the PIN comes from KPKI_PKCS11_PIN, --pin-file or a prompt) and `pin-value` is
 * refused, so that a PIN never stands on a command line or in a settings file.
 */
export interface Pkcs11Uri {
  /** The URI as given, for messages and for remembering the choice. */
  text: string;
  token?: string;
  serial?: string;
  object?: string;
  /** CKA_ID as lower-case hex. */
  id?: string;
  modulePath?: string;
}

/** The CA entries whose key a token may hold, as `--ca-key-uri NAME=URI` names them. */
export const TOKEN_CA_NAMES = ['ca', 'front-proxy-ca', 'etcd-ca'] as const;

const PATH_ATTRIBUTES = new Set([
  'token',
  'object',
  'id',
  'type',
  'serial',
  'manufacturer',
  'model',
  'library-manufacturer',
  'library-description',
  'library-version',
  'slot-description',
  'slot-manufacturer',
  'slot-id',
]);
const QUERY_ATTRIBUTES = new Set(['pin-source', 'pin-value', 'module-name', 'module-path']);

/** RFC 7512 §2.3: every value is percent-decoded; %xx of any byte, for `id` raw bytes. */
function percentBytes(value: string, flag: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== '%') {
      bytes.push(...Buffer.from(value[i]!, 'utf8'));
      continue;
    }
    const hex = value.slice(i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw badFlag(flag, `"${value}" has a bad percent escape`, 'write a byte as %XX');
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes);
}

/** Parses one PKCS#11 URI; `flag` names where it came from. */
export function parsePkcs11Uri(text: string, flag: string): Pkcs11Uri {
  if (!text.startsWith('pkcs11:'))
    throw badFlag(flag, `"${text}" is not a PKCS#11 URI`, 'write it as pkcs11:token=LABEL;object=KEY-LABEL (RFC 7512)');
  const [pathPart = '', query = ''] = text.slice('pkcs11:'.length).split('?', 2);
  const uri: Pkcs11Uri = { text };
  const attributes = [
    ...pathPart
      .split(';')
      .filter(Boolean)
      .map((a) => [a, PATH_ATTRIBUTES] as const),
    ...query
      .split('&')
      .filter(Boolean)
      .map((a) => [a, QUERY_ATTRIBUTES] as const),
  ];
  const seen = new Set<string>();
  for (const [attribute, known] of attributes) {
    const eq = attribute.indexOf('=');
    const name = eq < 0 ? attribute : attribute.slice(0, eq);
    const raw = eq < 0 ? '' : attribute.slice(eq + 1);
    if (!known.has(name) && !name.startsWith('x-'))
      throw badFlag(flag, `"${name}" is not a PKCS#11 URI attribute`, 'use token=, object= and id= (RFC 7512)');
    if (seen.has(name)) throw badFlag(flag, `"${name}" is given twice in "${text}"`);
    seen.add(name);
    const value = percentBytes(raw, flag);
    switch (name) {
      case 'token':
        uri.token = value.toString('utf8');
        break;
      case 'serial':
        uri.serial = value.toString('utf8');
        break;
      case 'object':
        uri.object = value.toString('utf8');
        break;
      case 'id':
        uri.id = value.toString('hex');
        break;
      case 'module-path':
        uri.modulePath = value.toString('utf8');
        break;
      case 'type':
        if (value.toString() !== 'private')
          throw badFlag(flag, `type=${value.toString()}: a CA key URI addresses the private key`, 'write type=private or leave it out');
        break;
      case 'pin-value':
        throw badFlag(
          flag,
          'holds pin-value: a PIN never goes on the command line',
          'give it in KPKI_PKCS11_PIN, with --pin-file FILE (mode 0600), or type it when asked',
        );
      default:
        // pin-source and the descriptive attributes say nothing kpki needs: ignored.
        break;
    }
  }
  if (uri.token === undefined && uri.serial === undefined) throw badFlag(flag, `"${text}" names no token`, 'add token=LABEL');
  if (uri.object === undefined && uri.id === undefined)
    throw badFlag(flag, `"${text}" names no key`, 'add object=KEY-LABEL (and, optionally, id=%XX…)');
  return uri;
}

/** How messages name a token key: `token k8s, object cluster-ca`. */
export function describeTokenKey(uri: Pkcs11Uri): string {
  const token = uri.token !== undefined ? `token ${uri.token}` : `token with serial ${uri.serial}`;
  const object = [uri.object !== undefined ? `object ${uri.object}` : '', uri.id !== undefined ? `id ${uri.id}` : '']
    .filter(Boolean)
    .join(' ');
  return `${token}, ${object}`;
}

/** `--ca-key-uri NAME=URI` values, by CA entry name. */
export function parseCaKeyUris(values: readonly string[], flag = '--ca-key-uri'): Map<string, Pkcs11Uri> {
  const uris = new Map<string, Pkcs11Uri>();
  for (const value of values) {
    const eq = value.indexOf('=');
    const name = eq < 0 ? '' : value.slice(0, eq);
    if (!(TOKEN_CA_NAMES as readonly string[]).includes(name)) {
      throw badFlag(flag, `"${value}" does not start with a CA name`, `write NAME=pkcs11:…, NAME one of ${TOKEN_CA_NAMES.join(', ')}`);
    }
    if (uris.has(name)) throw badFlag(flag, `${name} is given twice`);
    uris.set(name, parsePkcs11Uri(value.slice(eq + 1), `${flag} ${name}`));
  }
  return uris;
}

/** What a rotation appends to a key's object label: `.rotated-` and the rotation's start, to the second. */
const ROTATED_SUFFIX = /\.rotated-\d{14}$/;

/**
 * The URI of a rotation's incoming key: the same token, the object label with the rotation's start
 * appended (`cluster-ca.rotated-20261207110631`, an earlier rotation's suffix replaced), no id (the
 * token gives the new key its own). `fallback` labels a key the URI named by id alone.
 */
export function rotatedKeyUri(text: string, fallback: string, startedAt: Date): string {
  const uri = parsePkcs11Uri(text, 'kpki-pkcs11.json');
  const stamp = startedAt.toISOString().replace(/\D/g, '').slice(0, 14);
  const object = `${(uri.object ?? fallback).replace(ROTATED_SUFFIX, '')}.rotated-${stamp}`;
  const [pathPart = '', query] = text.slice('pkcs11:'.length).split('?', 2);
  const attributes = pathPart.split(';').filter((a) => a && !/^(object|id)=/.test(a));
  const rebuilt = `pkcs11:${[...attributes, `object=${encodeURIComponent(object)}`].join(';')}`;
  return query === undefined ? rebuilt : `${rebuilt}?${query}`;
}
