// This host's tunnel endpoint in cluster mode (OVSVLAN_UNDERLAY_IP): the
// address other hosts' mesh tunnels lead to, and the interface holding it,
// whose MTU bounds a mesh overlay's. Read once at daemon start (cluster.ts).
import { ConfigError } from '../errors.js';
import { canonicalAddress } from '../ipam/address.js';
import { defaultRouteDevices, globalAddresses } from '../link/addr.js';
import { execOk } from '../link/exec.js';
import { getLink } from '../link/links.js';

export interface Underlay {
  /** canonical address text */
  readonly ip: string;
  /** the interface holding it, and its MTU */
  readonly dev: string;
  readonly mtu: number;
}

interface IpAddrJson {
  ifname: string;
  addr_info?: Array<{ local: string; scope: string }>;
}

/**
 * `configured` '' → the first global address of the first interface holding a
 * default route (IPv4 routes first); else the interface holding `configured`.
 * Throws a ConfigError naming OVSVLAN_UNDERLAY_IP when there is none.
 */
export async function resolveUnderlay(configured: string): Promise<Underlay> {
  if (configured === '') {
    for (const dev of await defaultRouteDevices()) {
      const [first] = await globalAddresses(dev);
      if (first !== undefined) return { ip: canonical(first.split('/')[0] ?? ''), dev, mtu: await mtuOf(dev) };
    }
    throw new ConfigError('OVSVLAN_UNDERLAY_IP (--underlay-ip) is not set, and no interface holding a default route has a global address '
      + 'to use as this host\'s tunnel endpoint: set OVSVLAN_UNDERLAY_IP to the address other hosts reach this one on');
  }
  const links = JSON.parse(await execOk('ip', ['-j', 'addr', 'show'])) as IpAddrJson[];
  const holder = links.find((l) => (l.addr_info ?? []).some((a) => canonical(a.local) === configured));
  if (!holder) {
    throw new ConfigError(`OVSVLAN_UNDERLAY_IP (--underlay-ip) "${configured}" is not an address of this host: give one of its interfaces' addresses, `
      + 'or leave it empty for the address of the interface holding the default route');
  }
  return { ip: configured, dev: holder.ifname, mtu: await mtuOf(holder.ifname) };
}

const canonical = (text: string): string => canonicalAddress(text) ?? text;

async function mtuOf(dev: string): Promise<number> {
  const link = await getLink(dev);
  if (!link) throw new ConfigError(`OVSVLAN_UNDERLAY_IP: interface ${dev} went away while it was read`);
  return link.mtu;
}
