// Addresses and routes of the host namespace: what the uplink safety check and
// the overlay MTU need, and the host's address on a network (host_ip).
import { LinkError } from '../errors.js';
import { exec, execOk } from './exec.js';
import { getLink } from './links.js';

interface IpAddrJson {
  ifname: string;
  addr_info?: Array<{ local: string; prefixlen: number; scope: string }>;
}

interface IpRouteJson {
  dst?: string;
  dev?: string;
}

/** Addresses of an interface other than link-local ones (CIDR). */
export async function globalAddresses(iface: string): Promise<string[]> {
  const out = await execOk('ip', ['-j', 'addr', 'show', 'dev', iface]);
  const [link] = JSON.parse(out) as IpAddrJson[];
  return (link?.addr_info ?? []).filter((a) => a.scope !== 'link' && a.scope !== 'host').map((a) => `${a.local}/${a.prefixlen}`);
}

/** Interfaces that carry a default route (IPv4 or IPv6). */
export async function defaultRouteDevices(): Promise<string[]> {
  const devs = new Set<string>();
  for (const family of ['-4', '-6']) {
    const r = await exec('ip', [family, '-j', 'route', 'show', 'default']);
    if (r.exitCode !== 0 || r.stdout.trim() === '') continue;
    for (const route of JSON.parse(r.stdout) as IpRouteJson[]) if (route.dev) devs.add(route.dev);
  }
  return [...devs];
}

/** MTU of the interface the kernel would use to reach `address`. */
export async function routeMtu(address: string): Promise<{ dev: string; mtu: number }> {
  const argv = ['-j', 'route', 'get', address];
  const r = await exec('ip', argv);
  const dev = r.exitCode === 0 ? (JSON.parse(r.stdout) as IpRouteJson[])[0]?.dev : undefined;
  const link = dev ? await getLink(dev) : undefined;
  if (!dev || !link) throw new LinkError(['ip', ...argv], r.stderr || `no route to ${address}`);
  return { dev, mtu: link.mtu };
}

/** Gives `iface` the address (idempotent) and brings it up. */
export async function setAddress(iface: string, cidr: string): Promise<void> {
  await execOk('ip', ['addr', 'replace', cidr, 'dev', iface]);
  await execOk('ip', ['link', 'set', iface, 'up']);
}
