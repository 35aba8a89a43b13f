import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import type { HostDefaults } from '../model/settings.js';

/** The interface of the IPv4 default route, as kubeadm's ChooseHostInterface prefers it. */
function defaultRouteInterface(): string | undefined {
  try {
    const rows = readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
    return rows.map((r) => r.trim().split(/\s+/)).find((cols) => cols[1] === '00000000')?.[0];
  } catch {
    return undefined;
  }
}

/** Node name and advertise address defaults, read from this machine. */
export function detectHostDefaults(): HostDefaults {
  const interfaces = networkInterfaces();
  const usable = (name: string) => (interfaces[name] ?? []).filter((a) => !a.internal && !a.address.startsWith('fe80:'));
  const preferred = defaultRouteInterface();
  const candidates = [...(preferred ? usable(preferred) : []), ...Object.keys(interfaces).flatMap(usable)];
  const address = candidates.find((a) => a.family === 'IPv4') ?? candidates[0];
  return { nodeName: hostname().toLowerCase(), advertiseAddress: address?.address };
}
