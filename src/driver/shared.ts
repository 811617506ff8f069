// CreateNetwork in cluster mode: a network is the same network on every host
// that gives it the same data plane (mode and VLAN/VNI/GRE key, its identity).
// The first host writes its definition to etcd; every other host must agree
// with it (cluster/definitions.ts checks and names the difference). These
// helpers build what is checked and keep one identity to one local network.
import { identOf, type ClusterNetworks, type NetworkIdent, type SharedSpec } from '../cluster/types.js';
import { ConflictError, InvalidOptionError } from '../errors.js';
import { canonicalAddress, parsePrefix } from '../ipam/address.js';
import { shortId } from '../names.js';
import type { CreateNetworkReq } from '../protocol/types.js';
import type { StateCache } from '../store/state.js';
import type { AddressBook } from './context.js';
import type { NetworkSpec } from './options.js';

/** The identity a network of `spec` has in the cluster: `vlan.860`, `vxlan.5001`, `gre.42`. */
export const identOfSpec = (spec: NetworkSpec): NetworkIdent => identOf(spec.mode, spec.mode === 'vlan' ? spec.vlan : spec.key);

/**
 * Called by CreateNetwork in cluster mode, holding the identity's lock:
 * another local network with the same identity would be the same cluster
 * network twice on this host (one address plan, two bridges or VLAN ports).
 * The request is first checked against the cluster's definition (nothing is
 * written), so that a create that differs from it is told what differs; one
 * that agrees is refused as a second copy.
 */
export async function refuseSameIdent(state: StateCache, networks: ClusterNetworks, ident: NetworkIdent, req: CreateNetworkReq,
  spec: NetworkSpec): Promise<void> {
  const twin = state.networks().find((n) => n.ident === ident && n.id !== req.networkId);
  if (!twin) return;
  await networks.check(sharedSpecOf(ident, req, spec, spec.mtu ?? twin.mtu));
  throw new ConflictError(`network ${shortId(twin.id)} on this host is already the cluster network ${ident} (same mode and ` +
    `${ident.startsWith('vlan.') ? 'VLAN' : ident.startsWith('vxlan.') ? 'VNI' : 'GRE key'}); a host has each cluster network once: use it, or another tag`);
}

/**
 * Called by CreateNetwork in cluster mode, before the definition is joined and
 * anything is made: a shared network's subnets must be ovsvlan's pools. With
 * Docker's default IPAM (or another driver) every host would hand out the same
 * addresses of the same subnet, unseen by etcd.
 */
export function refuseForeignIpam(ipam: AddressBook, ident: NetworkIdent, req: CreateNetworkReq): void {
  const unheld = ipam.unheldSubnets(req.networkId, [...req.ipv4, ...req.ipv6]);
  if (unheld.length === 0) return;
  throw new InvalidOptionError('ipam-driver', `cluster network ${ident} needs --ipam-driver ovsvlan: its subnet ${unheld.join(', ')} ` +
    'comes from another IPAM driver (Docker\'s default?), which would hand out the same addresses on every host of the network; ' +
    're-create it with docker network create --ipam-driver ovsvlan');
}

/**
 * What every host of the network must agree on, from CreateNetwork's request:
 * subnets, gateways and aux addresses as Docker's IPAM data gave them
 * (canonical), the MTU (`mtu`: this host's, explicit when -o mtu or Docker's
 * MTU option gave it), internal, and whether it is a mesh.
 */
export function sharedSpecOf(ident: NetworkIdent, req: CreateNetworkReq, spec: NetworkSpec, mtu: number): SharedSpec {
  const pools = [...req.ipv4, ...req.ipv6];
  return {
    ident,
    mode: spec.mode,
    tag: spec.mode === 'vlan' ? spec.vlan : spec.key,
    subnets: pools.map((p) => parsePrefix(p.pool)?.cidr ?? p.pool),
    gateways: pools.map((p) => canonicalAddress(p.gateway) ?? ''),
    aux: pools.flatMap((p) => Object.values(p.aux).map((a) => canonicalAddress(a) ?? a)).sort(),
    mtu,
    mtuExplicit: spec.mtu !== undefined,
    internal: req.internal,
    mesh: spec.mode !== 'vlan' && spec.mesh,
  };
}
