import { describe, expect, it } from 'vitest';
import { ErrorCode, KpkiError } from '../../src/errors.js';
import { formatDuration, parseDuration } from '../../src/model/duration.js';
import { resolveSettings, type SettingsInput } from '../../src/model/settings.js';

const host = { nodeName: 'Node-1', advertiseAddress: '192.0.2.10' };

function flagError(input: SettingsInput): KpkiError {
  try {
    resolveSettings(input, host);
  } catch (error) {
    return error as KpkiError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('parseDuration', () => {
  it.each([
    ['8760h', 31_536_000],
    ['87600h', 315_360_000],
    ['365d', 31_536_000],
    ['1y', 31_536_000],
    ['10y', 315_360_000],
    ['1h30m', 5400],
    ['90s', 90],
  ])('%s = %i s', (text, seconds) => expect(parseDuration(text)).toBe(seconds));
  it('rejects zero, negatives and junk', () => {
    for (const bad of ['0h', '-1h', '1', 'h', '1 year', '']) expect(parseDuration(bad), bad).toBeUndefined();
  });
  it('formats like kubeadm check-expiration', () => {
    expect(formatDuration(364 * 86400 + 3600)).toBe('364d');
    expect(formatDuration(9.9 * 365 * 86400)).toBe('9y');
    expect(formatDuration(5 * 3600)).toBe('5h');
  });
});

describe('resolveSettings', () => {
  it('applies kubeadm defaults and host facts', () => {
    const s = resolveSettings({}, host);
    expect(s).toMatchObject({
      nodeName: 'node-1',
      advertiseAddress: '192.0.2.10',
      bindPort: 6443,
      controlPlaneEndpoint: undefined,
      dnsDomain: 'cluster.local',
      clusterName: 'kubernetes',
      keyType: 'rsa-2048',
      certValidity: 365 * 86400,
      caValidity: 3650 * 86400,
      localEtcd: true,
    });
    expect(s.serviceCidrs.map((c) => c.text)).toEqual(['10.96.0.0/12']);
  });

  it('parses dual-stack service CIDRs, endpoints and extra SANs', () => {
    const s = resolveSettings(
      {
        serviceCidr: '10.96.0.0/12, fd00:10:96::/112',
        controlPlaneEndpoint: '[fd00::100]:443',
        apiserverCertExtraSans: ['10.0.0.100,API.example.com', '*.apps.example.com'],
      },
      host,
    );
    expect(s.serviceCidrs.map((c) => c.text)).toEqual(['10.96.0.0/12', 'fd00:10:96::/112']);
    expect(s.controlPlaneEndpoint).toEqual({ host: 'fd00::100', port: 443 });
    expect(s.apiserverExtraSans).toEqual(['10.0.0.100', 'api.example.com', '*.apps.example.com']);
  });

  it.each<[SettingsInput, string]>([
    [{ advertiseAddress: 'cp1' }, '--advertise-address'],
    [{ bindPort: '70000' }, '--apiserver-bind-port'],
    [{ controlPlaneEndpoint: 'lb:notaport' }, '--control-plane-endpoint'],
    [{ serviceCidr: '10.96.0.0' }, '--service-cidr'],
    [{ serviceCidr: '10.96.0.0/12,10.97.0.0/16' }, '--service-cidr'],
    [{ serviceCidr: '10.96.0.0/32' }, '--service-cidr'],
    [{ dnsDomain: 'bad_domain' }, '--dns-domain'],
    [{ nodeName: 'bad_name' }, '--node-name'],
    [{ apiserverCertExtraSans: 'not a name' }, '--apiserver-cert-extra-sans'],
    [{ keyType: 'dsa-1024' }, '--key-type'],
    [{ certValidity: 'forever' }, '--cert-validity'],
    [{ certValidity: '20y', caValidity: '10y' }, '--cert-validity'],
  ])('rejects %j naming %s', (input, flag) => {
    const error = flagError(input);
    expect(error).toBeInstanceOf(KpkiError);
    expect(error.code).toBe(ErrorCode.BadFlag);
    expect(error.subject).toBe(flag);
    expect(error.message.startsWith(`${flag}: `)).toBe(true);
  });

  it('needs an advertise address when none is detected', () => {
    const error = (() => {
      try {
        resolveSettings({}, { nodeName: 'cp1', advertiseAddress: undefined });
      } catch (e) {
        return e as KpkiError;
      }
    })();
    expect(error?.subject).toBe('--advertise-address');
    expect(error?.hint).toContain('--advertise-address');
  });
});
