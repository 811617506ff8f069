// The `-o dhcp*` options of a network (issue 12), parsed before anything is
// touched (pure): whether the network takes its containers' addresses from
// the DHCP server on its VLAN or overlay, and how. What the options cannot say
// alone (the null IPAM, --ipv6, --internal) is checked against CreateNetwork's
// request by checkDhcpRequest. Every error names the option and its allowed values.
import { InvalidOptionError, quoted } from '../errors.js';
import { contains, parseInterfaceAddress, parsePrefix } from '../ipam/address.js';
import type { DhcpSettings, GatewayPolicy, ReleasePolicy } from '../dhcp/types.js';
import type { CreateNetworkReq } from '../protocol/types.js';

export const DHCP_TIMEOUT_DEFAULT_S = 10;
/** Docker gives up on a plugin call after 30 s: the first lease must come (or fail) well before. */
export const DHCP_TIMEOUT_MAX_S = 25;
/** What Docker's null IPAM (`--ipam-driver null`) puts in CreateNetwork's IPv4Data (moby ipams/null). */
export const NULL_IPAM_SPACE = 'null';
export const NULL_IPAM_POOL = '0.0.0.0/0';

export const DHCP_OPTION_DOCS = [
  { name: 'dhcp', allowed: 'on or off (default off): containers take their IPv4 address from the DHCP server on the network (needs --ipam-driver null)' },
  { name: 'dhcp_gateway', allowed: 'server (default: the router the DHCP server gives) or none (no default route)' },
  { name: 'dhcp_release', allowed: 'keep (default), stop (release the lease when the container stops) or remove (when it is removed)' },
  { name: 'dhcp_timeout', allowed: `seconds to wait for the first lease, from 1 to ${DHCP_TIMEOUT_MAX_S} (default ${DHCP_TIMEOUT_DEFAULT_S})` },
  { name: 'dhcp_subnet', allowed: 'an IPv4 CIDR every lease must fall in, e.g. 10.87.0.0/24 (default: any)' },
] as const;

const allowed = (name: string): string => DHCP_OPTION_DOCS.find((o) => o.name === name)?.allowed ?? 'a valid value';
const GATEWAYS: readonly GatewayPolicy[] = ['server', 'none'];
const RELEASES: readonly ReleasePolicy[] = ['keep', 'stop', 'remove'];
const DECIMAL = /^(0|[1-9][0-9]{0,9})$/;

/**
 * The network's DHCP settings from its -o options (already known to be
 * strings), or undefined when dhcp is off. Called by parseNetworkOptions;
 * `hostIp`: the network's host_ip, which must lie in dhcp_subnet. Throws
 * InvalidOptionError: a dhcp_* option without dhcp=on, or a bad value.
 */
export function parseDhcpOptions(opts: Readonly<Record<string, string | undefined>>, hostIp: string | undefined): DhcpSettings | undefined {
  const on = opts['dhcp'];
  if (on !== undefined && on !== 'on' && on !== 'off') throw new InvalidOptionError('dhcp', `invalid dhcp ${quoted(on)}: must be ${allowed('dhcp')}`);
  const given = DHCP_OPTION_DOCS.map((o) => o.name).filter((n) => n !== 'dhcp' && opts[n] !== undefined);
  if (on !== 'on') {
    const [first] = given;
    if (first !== undefined) throw new InvalidOptionError(first, `option "${first}" needs -o dhcp=on`);
    return undefined;
  }
  const gateway = opts['dhcp_gateway'] ?? 'server';
  if (!GATEWAYS.includes(gateway as GatewayPolicy)) {
    throw new InvalidOptionError('dhcp_gateway', `invalid dhcp_gateway ${quoted(gateway)}: must be ${allowed('dhcp_gateway')}`);
  }
  const release = opts['dhcp_release'] ?? 'keep';
  if (!RELEASES.includes(release as ReleasePolicy)) {
    throw new InvalidOptionError('dhcp_release', `invalid dhcp_release ${quoted(release)}: must be ${allowed('dhcp_release')}`);
  }
  const timeoutRaw = opts['dhcp_timeout'];
  const timeoutS = timeoutRaw === undefined ? DHCP_TIMEOUT_DEFAULT_S : Number(timeoutRaw);
  if (timeoutRaw !== undefined && (!DECIMAL.test(timeoutRaw) || timeoutS < 1 || timeoutS > DHCP_TIMEOUT_MAX_S)) {
    throw new InvalidOptionError('dhcp_timeout', `invalid dhcp_timeout ${quoted(timeoutRaw)}: must be ${allowed('dhcp_timeout')}, in plain decimal`);
  }
  return { gateway: gateway as GatewayPolicy, release: release as ReleasePolicy, timeoutS, subnet: parseSubnet(opts['dhcp_subnet'], hostIp) };
}

function parseSubnet(raw: string | undefined, hostIp: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const p = parsePrefix(raw);
  if (!p || p.family !== 4 || p.bits < 1) {
    throw new InvalidOptionError('dhcp_subnet', `invalid dhcp_subnet ${quoted(raw)}: must be ${allowed('dhcp_subnet')}, with no host bits set`);
  }
  const host = hostIp === undefined ? undefined : parseInterfaceAddress(hostIp);
  if (host && !contains(p, host.subnet)) {
    throw new InvalidOptionError('dhcp_subnet', `option "host_ip" (${hostIp}) is not inside dhcp_subnet ${p.cidr}: the host's address must be on the DHCP server's subnet`);
  }
  return p.cidr;
}

/**
 * CreateNetwork of a DHCP network: what its request must be, checked before
 * anything is made. The addresses must come from Docker's null IPAM (Docker
 * then sends CreateEndpoint an empty address, which ovsvlan fills with the
 * lease); no IPv6 (DHCPv6 is not supported); an --internal network has no
 * gateway, so dhcp_gateway=server contradicts it.
 */
export function checkDhcpRequest(dhcp: DhcpSettings, req: CreateNetworkReq): void {
  const v4 = req.ipv4;
  const nullIpam = v4.length === 1 && v4[0]?.addressSpace === NULL_IPAM_SPACE && v4[0].pool === NULL_IPAM_POOL;
  if (!nullIpam) {
    const got = v4.map((p) => `${p.pool} (address space ${p.addressSpace || '""'})`).join(', ') || 'none';
    throw new InvalidOptionError('dhcp', `dhcp=on needs --ipam-driver null: the DHCP server hands out the addresses, but this network's IPv4 ` +
      `subnets come from an IPAM driver: ${got}; re-create it with docker network create --ipam-driver null (and -o dhcp_subnet=CIDR to check leases)`);
  }
  if (req.ipv6.length > 0) {
    throw new InvalidOptionError('dhcp', 'dhcp=on cannot be used with --ipv6: DHCPv6 is not supported; drop --ipv6');
  }
  if (req.internal && dhcp.gateway === 'server') {
    throw new InvalidOptionError('dhcp_gateway', 'dhcp_gateway=server contradicts --internal (an internal network has no gateway): ' +
      'give -o dhcp_gateway=none, or drop --internal');
  }
}
