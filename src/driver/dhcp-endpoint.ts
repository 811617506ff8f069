// CreateEndpoint and DeleteEndpoint of a DHCP network (issue 12): the
// endpoint's identity (a stable MAC and client identifier), its first lease,
// taken on the container end while it is still in the host's namespace, and
// what the network remembers of a MAC once its endpoint is gone. The veth and
// port are made and undone by endpoint.ts as for any endpoint.
import { randomBytes } from 'node:crypto';
import { InvalidRequestError, LeaseRefusedError } from '../errors.js';
import { shortId } from '../names.js';
import { setMacUp } from '../link/links.js';
import type { DhcpIdentity, DhcpSettings } from '../dhcp/types.js';
import type { CreateEndpointReq } from '../protocol/types.js';
import type { DhcpKnown, EndpointDhcp, EndpointRecord, NetworkRecord } from '../store/records.js';
import type { DriverContext } from './context.js';

/** How many MACs a network remembers (the oldest are forgotten first). */
export const MAX_KNOWN = 4096;

/** A locally administered unicast MAC, random: for an endpoint Docker gave none (returned to Docker, which sets it). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The identity a MAC asks the server with: option 61 is "01" (Ethernet) and the MAC's bytes. */
export function identityOf(mac: string): DhcpIdentity {
  const m = mac.toLowerCase();
  return { mac: m, clientId: `01${m.replace(/:/g, '')}`, hostname: undefined };
}

/** How errors name where the server was looked for: "VLAN 870", "VXLAN 5001". */
export function segmentOf(net: NetworkRecord): string {
  return net.mode === 'vlan' ? `VLAN ${net.vlan}` : `${net.mode.toUpperCase()} ${net.key}`;
}

/**
 * Called by CreateEndpoint of a DHCP network before anything is made: the
 * addresses are the server's, so an address Docker was given (`docker run
 * --ip`, which Docker itself refuses with the null IPAM) is refused, and so
 * is a MAC that is not Ethernet's 6 bytes.
 */
export function checkDhcpEndpoint(net: NetworkRecord, req: CreateEndpointReq): void {
  if (req.addressV4 || req.addressV6) {
    throw new InvalidRequestError(`network ${shortId(net.id)} takes its addresses from the DHCP server on ${segmentOf(net)} (dhcp=on): ` +
      `an address given to the container (${req.addressV4 ?? req.addressV6}, docker run --ip) cannot be used; drop it`, 'Interface.Address');
  }
  if (req.macAddress !== undefined && req.macAddress.split(':').length !== 6) {
    throw new InvalidRequestError(`a DHCP network needs a 6-byte Ethernet MAC, not ${req.macAddress}`, 'Interface.MacAddress');
  }
}

/**
 * CreateEndpoint of a DHCP network, once its veth is wired and before its
 * record is saved: sets the container end's MAC (Docker's, or a random one),
 * brings it up and takes the first lease on it (bounded by dhcp_timeout; the
 * client only reports, nothing is configured in the host's namespace), asking
 * for the address this MAC last held on the network. Returns the record with
 * its address and identity; throws DhcpError when no lease came. The caller
 * undoes the links.
 */
export async function takeFirstLease(ctx: DriverContext, net: NetworkRecord, dhcp: DhcpSettings, record: EndpointRecord,
  req: CreateEndpointReq): Promise<EndpointRecord> {
  const identity = identityOf(req.macAddress ?? randomMac());
  await setMacUp(record.containerIf, identity.mac);
  const lease = await ctx.dhcp.firstLease({
    ifname: record.containerIf, identity, requested: net.dhcpKnown?.[identity.mac]?.address, timeoutS: dhcp.timeoutS,
    subnet: dhcp.subnet, segment: segmentOf(net),
  }).catch(async (err: unknown) => {
    // refused, yet the server holds it for this MAC: given back (a retried docker run would take one more each time)
    if (err instanceof LeaseRefusedError) await ctx.releases?.giveBackRefused(net, record.containerIf, identity.mac, err.address);
    throw err;
  });
  ctx.log.info({ network: shortId(net.id), endpoint: shortId(record.id), mac: identity.mac, address: lease.address, router: lease.router,
    server: lease.serverId, leaseS: lease.leaseS }, 'dhcp first lease');
  const endpointDhcp: EndpointDhcp = { identity, lease, firstAddress: lease.address };
  return { ...record, addressV4: lease.address, dhcp: endpointDhcp };
}

/**
 * What CreateEndpoint answers Docker for a DHCP endpoint: the lease's address,
 * and the MAC when ovsvlan chose it (never one Docker gave: Docker refuses a
 * value it has already, even the same one).
 */
export function dhcpInterface(ep: EndpointRecord, req: CreateEndpointReq): { address: string; mac: string | undefined } | undefined {
  if (!ep.dhcp || !ep.addressV4) return undefined;
  return { address: ep.addressV4, mac: req.macAddress ? undefined : ep.dhcp.identity.mac };
}

/**
 * DeleteEndpoint of a DHCP endpoint: the network record as it must be saved
 * with the endpoint's removal, remembering the MAC's address (asked for again
 * by the next endpoint with this MAC) and, with dhcp_release=remove, parking
 * the lease until its container is removed. Bounded to MAX_KNOWN MACs.
 */
export function rememberMac(net: NetworkRecord, ep: EndpointRecord): NetworkRecord | undefined {
  if (!ep.dhcp || !net.dhcp) return undefined;
  const cidr = ep.addressV4 ?? ep.dhcp.lease.address;
  const entry: DhcpKnown = {
    address: cidr.split('/')[0] ?? '', cidr, at: Date.now(),
    ...(ep.dhcp.containerId ? { containerId: ep.dhcp.containerId } : {}),
    ...(net.dhcp.release === 'remove' ? { parked: true } : {}),
  };
  const kept = Object.entries(net.dhcpKnown ?? {}).filter(([mac]) => mac !== ep.dhcp?.identity.mac)
    .sort(([, a], [, b]) => b.at - a.at).slice(0, MAX_KNOWN - 1);
  return { ...net, dhcpKnown: Object.fromEntries([[ep.dhcp.identity.mac, entry], ...kept]) };
}
