import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ipTextFamily } from '../../src/pki/ip.js';
import { canonicalIp, httpsUrl, indexedIp, isDnsName, parseCidr, parseHostPort } from '../../src/model/net.js';

describe('canonicalIp', () => {
  it('normalises IPv4 and compresses IPv6 per RFC 5952', () => {
    expect(canonicalIp('10.96.0.1')).toBe('10.96.0.1');
    expect(canonicalIp('FD00:0010:0096:0000:0000:0000:0000:0001')).toBe('fd00:10:96::1');
    expect(canonicalIp('[::1]')).toBe('::1');
  });
  it('rejects names and malformed addresses', () => {
    expect(canonicalIp('kubernetes')).toBeUndefined();
    expect(canonicalIp('10.96.0.256')).toBeUndefined();
    expect(canonicalIp('1:2:3')).toBeUndefined();
  });
});

describe('ipTextFamily', () => {
  // node:net is the reference; kpki reads addresses without loading it (start-up time).
  const TEXTS = [
    ...['1.2.3.4', '255.255.255.255', '0.0.0.0', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '0x7f.0.0.1', ' 1.2.3.4'],
    ...['::', '::1', '1::', '1:2:3:4:5:6:7:8', '1::2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:8:9', ':::1', '1::2::3'],
    ...['::ffff:1.2.3.4', '::ffff:01.2.3.4', '::ffff:1.2.3', '::ffff:256.1.1.1', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4'],
    ...['12345::1', 'FFFF::1', 'g::1', '::1]/[', '[::1]', ':: 1', '::\t1', 'example.com', ''],
  ];
  it.each(TEXTS)('%j as node:net isIP', (text) => {
    expect(ipTextFamily(text)).toBe(isIP(text));
  });
  it('refuses a zone, as Go net.ParseIP (node:net accepts it)', () => {
    expect(ipTextFamily('fe80::1%eth0')).toBe(0);
    expect(canonicalIp('fe80::1%eth0')).toBeUndefined();
  });
});

describe('parseCidr / indexedIp (service VIP derivation)', () => {
  it.each([
    ['10.96.0.0/12', '10.96.0.1'],
    ['10.100.0.0/16', '10.100.0.1'],
    ['192.168.0.0/24', '192.168.0.1'],
    ['fd00:10:96::/112', 'fd00:10:96::1'],
    ['2001:db8:42:1::/112', '2001:db8:42:1::1'],
  ])('first IP of %s is %s', (cidr, vip) => {
    expect(indexedIp(parseCidr(cidr)!, 1)).toBe(vip);
  });
  it('clears host bits like Go net.ParseCIDR', () => {
    expect(parseCidr('10.96.5.7/12')!.text).toBe('10.96.0.0/12');
    expect(indexedIp(parseCidr('10.96.5.7/12')!, 1)).toBe('10.96.0.1');
  });
  it('rejects malformed CIDRs', () => {
    for (const bad of ['10.96.0.0', '10.96.0.0/33', 'fd00::/129', 'x/12', '10.96.0.0/-1']) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });
  it('refuses an index outside the range', () => {
    expect(() => indexedIp(parseCidr('10.0.0.0/32')!, 1)).toThrow(RangeError);
  });
});

describe('parseHostPort (control-plane endpoint)', () => {
  it.each([
    ['lb.example.com', { host: 'lb.example.com', port: undefined }],
    ['LB.Example.com:443', { host: 'lb.example.com', port: 443 }],
    ['10.0.0.100:6443', { host: '10.0.0.100', port: 6443 }],
    ['[fd00::100]:6443', { host: 'fd00::100', port: 6443 }],
    ['fd00::100', { host: 'fd00::100', port: undefined }],
  ])('%s', (text, expected) => {
    expect(parseHostPort(text)).toEqual(expected);
  });
  it('rejects bad hosts and ports', () => {
    for (const bad of ['', 'lb:0', 'lb:70000', 'lb:x', 'bad_name:6443', '[10.0.0.1]:6443', 'a:b:c']) {
      expect(parseHostPort(bad), bad).toBeUndefined();
    }
  });
  it('brackets IPv6 hosts in URLs', () => {
    expect(httpsUrl('fd00::100', 6443)).toBe('https://[fd00::100]:6443');
    expect(httpsUrl('10.0.0.1', 6443)).toBe('https://10.0.0.1:6443');
  });
});

describe('isDnsName', () => {
  it('accepts RFC 1123 subdomains and leading wildcards only', () => {
    expect(isDnsName('kubernetes.default.svc.cluster.local')).toBe(true);
    expect(isDnsName('*.apps.example.com')).toBe(true);
    expect(isDnsName('a.*.example.com')).toBe(false);
    expect(isDnsName('-bad.example.com')).toBe(false);
    expect(isDnsName('Upper.example.com')).toBe(false);
  });
});
