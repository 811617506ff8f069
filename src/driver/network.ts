// CreateNetwork / DeleteNetwork. A VLAN network is a VLAN tag on a bridge
// (optionally trunked out through an uplink); an overlay (VXLAN, GRE) is a
// bridge of its own with one tunnel port per remote host, so overlays can
// never meet each other, a VLAN, or an uplink. Docker never replays
// CreateNetwork after a restart, so the record is persisted before we answer.
import { tunnelOverhead } from '../vswitch/tunnel.js';
import { ConflictError, InvalidOptionError } from '../errors.js';
import { holds, parseInterfaceAddress, parsePrefix, reserved } from '../ipam/address.js';
import { defaultRouteDevices, globalAddresses, routeMtu } from '../link/addr.js';
import { getLink } from '../link/links.js';
import type { NetworkRecord } from '../store/records.js';
import type { DriverContext } from './context.js';
import { bridgeLockKey } from '../lock.js';
import { applyInfra } from '../dataplane/infra.js';
import { networkPortNames, overlayBridgeName, shortId } from '../names.js';
import type { CreateNetworkReq } from '../protocol/types.js';
import { DEFAULT_MTU, parseNetworkOptions, type NetworkSpec, type OverlaySpec, type VlanSpec } from './options.js';
import { identOfSpec, refuseForeignIpam, refuseSameIdent, sharedSpecOf } from './shared.js';
import { checkDhcpRequest } from './dhcp-options.js';

export const UPLINK_DOC = 'docs/multi-host.md#moving-the-host-address-off-the-uplink';

/**
 * CreateNetwork is invoked by `docker network create`, after the IPAM has
 * given the pools. Options are checked before anything is touched; whatever
 * is made (bridge, tunnel ports, uplink, host port, record) is removed again
 * if a later step fails, as DeleteNetwork would. Then the IPAM's pools are
 * bound to the network (a failure there takes a network this call made back
 * again), and the network's spares are made in the background. In cluster
 * mode the network's definition in etcd is joined (or written, by the first
 * host) once the local checks pass and before anything is made; it is left
 * again when a later step fails. A network whose subnets are not ovsvlan's
 * pools (no --ipam-driver ovsvlan) is refused in cluster mode, first, unless
 * it is a DHCP network (dhcp=on), whose request must come from the null IPAM
 * (dhcp-options.ts checkDhcpRequest): the server coordinates its addresses.
 */
export async function createNetwork(ctx: DriverContext, req: CreateNetworkReq): Promise<{ created: boolean }> {
  const { created } = await makeNetwork(ctx, req);
  try {
    await ctx.ipam.bindNetwork(req.networkId, [...req.ipv4, ...req.ipv6], ctx.state.network(req.networkId)?.hostIp);
  } catch (err) {
    if (created) await deleteNetwork(ctx, req.networkId).catch(() => undefined);
    throw err;
  }
  if (created) ctx.plane.refill(req.networkId);
  if (created && ctx.state.network(req.networkId)?.mesh) ctx.cluster?.kickMesh('mesh network created'); // its tunnels to every host
  return { created };
}

async function makeNetwork(ctx: DriverContext, req: CreateNetworkReq): Promise<{ created: boolean }> {
  const spec = parseNetworkOptions(req.generic, ctx.defaultBridge, ctx.cluster !== undefined);
  // a DHCP network's host_ip is checked against dhcp_subnet (dhcp-options.ts): Docker's null IPAM gives no subnet
  if (spec.dhcp) {
    checkDhcpRequest(spec.dhcp, req);
    const problems = ctx.dhcp.problems();
    if (problems.length > 0) throw new InvalidOptionError('dhcp', `dhcp=on cannot work with this ovsvlan daemon: ${problems.join('; ')}; nothing was made`);
  } else checkHostIp(spec.hostIp, req);
  // cluster mode: one local network per identity, whichever bridge it names
  const ident = ctx.cluster ? identOfSpec(spec) : undefined;
  if (ident && !spec.dhcp) refuseForeignIpam(ctx.ipam, ident, req); // before the join: nothing made, nothing written
  const id = req.networkId;
  return ctx.locks.run(id, async () => {
    const existing = ctx.state.network(id);
    if (existing) {
      if (sameSpec(existing, spec)) return { created: false }; // a retry
      throw new ConflictError(`network ${shortId(id)} already exists with other options`);
    }
    const bridge = spec.mode === 'vlan' ? spec.bridge : overlayBridgeName(id);
    // VLAN networks are checked against the others on their bridge, overlays against all overlays (and own their bridge)
    const keys = [...(ident ? [`ident:${ident}`] : []), ...(spec.mode === 'vlan' ? [] : ['overlays']), bridgeLockKey(bridge)];
    await withLocks(ctx, keys, async () => {
      if (ctx.cluster && ident) await refuseSameIdent(ctx.state, ctx.cluster.networks, ident, req, spec);
      const extra = spec.mode === 'vlan' ? await checkVlan(ctx, spec) : await checkOverlay(ctx, spec, bridge);
      // the definition in etcd is joined (or written) before anything is made: a refusal changes nothing here
      const agreed = ctx.cluster && ident ? await ctx.cluster.networks.join(sharedSpecOf(ident, req, spec, spec.mtu ?? extra.mtu)) : undefined;
      let record: NetworkRecord = {
        id: id,
        mode: spec.mode,
        bridge,
        vlan: spec.mode === 'vlan' ? spec.vlan : undefined,
        mtu: agreed?.mtu ?? spec.mtu ?? extra.mtu,
        key: spec.mode === 'vlan' ? undefined : spec.key,
        remotes: spec.mode === 'vlan' ? [] : spec.remotes,
        uplink: extra.uplink,
        nativeVlan: extra.nativeVlan,
        hostIp: spec.hostIp,
        datapath: ctx.datapath,
        gatewayV4: stripMask(req.ipv4[0]?.gateway),
        gatewayV6: stripMask(req.ipv6[0]?.gateway),
        internal: req.internal,
        // a DHCP network's null-IPAM pool 0.0.0.0/0 is no subnet: status shows dhcp_subnet, if given
        subnets: spec.dhcp ? (spec.dhcp.subnet ? [spec.dhcp.subnet] : []) : [...req.ipv4, ...req.ipv6].map((p) => p.pool).filter(Boolean),
        ports: networkPortNames(id, spec.mode === 'vlan' ? 0 : spec.remotes.length, spec.hostIp !== undefined),
        ...(ident ? { ident } : {}),
        ...(spec.mode !== 'vlan' && spec.mesh ? { mesh: true } : {}),
        ...(spec.dhcp ? { dhcp: spec.dhcp } : {}),
      };
      const adopted: NetworkRecord[] = [];
      try {
        const { bridge: b, created } = await ctx.vswitch.ensureBridge(bridge, ctx.datapath);
        record = { ...record, datapath: b.datapath };
        await ctx.state.putNetwork(record);
        await shareUplink(ctx, record, adopted);
        await applyInfra(ctx, record);
        ctx.log.info({ network: shortId(id), mode: record.mode, bridge, vlan: record.vlan, key: record.key, remotes: record.remotes,
          uplink: record.uplink, mtu: record.mtu, bridgeCreated: created, ident, mesh: record.mesh }, 'network created');
      } catch (err) {
        for (const before of adopted) await ctx.state.putNetwork(before).catch(() => undefined);
        await ctx.plane.removeNetwork(record).catch((undoErr: unknown) =>
          ctx.log.error({ err: undoErr, network: shortId(record.id) }, 'rollback of network failed; reconciliation will finish it'));
        if (agreed) await ctx.cluster?.networks.leave(agreed.ident);
        throw err;
      }
    });
    return { created: true };
  });
}

/**
 * The uplink belongs to the bridge: when a network brings the first uplink to
 * a bridge, the networks already on it share it (it stays while any of them
 * remains). Adds their records as they were to `before`, for a rollback.
 */
async function shareUplink(ctx: DriverContext, record: NetworkRecord, before: NetworkRecord[]): Promise<void> {
  if (!record.uplink) return;
  const others = ctx.state.networks().filter((n) => n.mode === 'vlan' && n.bridge === record.bridge && n.id !== record.id && !n.uplink);
  for (const n of others) {
    before.push(n);
    await ctx.state.putNetwork({ ...n, uplink: record.uplink, nativeVlan: record.nativeVlan });
  }
}

/** Checks a VLAN network against the others on its bridge; returns what it inherits from the bridge. */
async function checkVlan(ctx: DriverContext, spec: VlanSpec): Promise<{ mtu: number; uplink: string | undefined; nativeVlan: number | undefined }> {
  const onBridge = ctx.state.networks().filter((n) => n.bridge === spec.bridge);
  const clash = onBridge.find((n) => n.vlan === spec.vlan);
  if (clash) throw new ConflictError(`vlan ${spec.vlan} on bridge ${spec.bridge} is already used by network ${shortId(clash.id)}; use another --opt vlan`);
  await refuseNonOvsLink(ctx, spec.bridge);
  const current = onBridge.find((n) => n.uplink);
  if (current && spec.uplink && (current.uplink !== spec.uplink || (spec.nativeVlan !== undefined && spec.nativeVlan !== current.nativeVlan))) {
    throw new ConflictError(`bridge ${spec.bridge} already trunks through uplink ${current.uplink}` +
      `${current.nativeVlan ? ` (native_vlan ${current.nativeVlan})` : ''}; give the same uplink, or none to share it`);
  }
  if (spec.uplink && !current) await checkUplink(ctx, spec.uplink, spec.bridge, spec.nativeVlan);
  return { mtu: DEFAULT_MTU, uplink: current?.uplink ?? spec.uplink, nativeVlan: current ? current.nativeVlan : spec.nativeVlan };
}

/** An uplink must exist, hold no address and no default route: attaching it would cut the host off. */
async function checkUplink(ctx: DriverContext, uplink: string, bridge: string, nativeVlan: number | undefined): Promise<void> {
  if (!(await getLink(uplink))) throw new InvalidOptionError('uplink', `uplink "${uplink}" does not exist on this host`);
  const addresses = await globalAddresses(uplink);
  const routes = await defaultRouteDevices();
  if (addresses.length > 0 || routes.includes(uplink)) {
    const holds = addresses.length > 0 ? `holds ${addresses.join(', ')}` : 'carries the default route';
    throw new InvalidOptionError('uplink', `refusing uplink "${uplink}": it ${holds}, and attaching it to a bridge would cut the host off; ` +
      `move the host's address to an internal port first (see ${UPLINK_DOC})`);
  }
  const port = await ctx.vswitch.getPort(uplink);
  if (port && port.bridge !== bridge) throw new ConflictError(`uplink "${uplink}" is already a port of bridge ${port.bridge}`);
  if (port && nativeVlan !== undefined) {
    throw new InvalidOptionError('native_vlan', `uplink "${uplink}" is already a port of ${bridge} set up by hand: ovsvlan adds its VLANs to its trunks and keeps its own, but leaves its native VLAN alone; drop --opt native_vlan`);
  }
}

/** Checks an overlay against the others (its key, its own bridge), and works out its MTU from the underlay. */
async function checkOverlay(ctx: DriverContext, spec: OverlaySpec, bridge: string): Promise<{ mtu: number; uplink: undefined; nativeVlan: undefined }> {
  const clash = ctx.state.networks().find((n) => n.mode === spec.mode && n.key === spec.key && n.remotes.some((r) => spec.remotes.includes(r)));
  if (clash) {
    throw new ConflictError(`${spec.mode === 'vxlan' ? 'vni' : 'key'} ${spec.key} to ${spec.remotes.join(',')} is already used by network ${shortId(clash.id)}`);
  }
  const holder = ctx.state.networks().find((n) => n.bridge === bridge);
  const existing = holder ? undefined : await ctx.vswitch.getBridge(bridge);
  if (holder || (existing && !existing.ours)) {
    throw new ConflictError(`the overlay's own bridge ${bridge} is already ${holder ? `network ${shortId(holder.id)}'s` : 'an OVS bridge that is not ovsvlan\'s'}; ` +
      'an overlay never shares its bridge: use another network ID');
  }
  if (spec.mtu !== undefined) return { mtu: spec.mtu, uplink: undefined, nativeVlan: undefined };
  if (spec.mesh && ctx.cluster) {
    return { mtu: ctx.cluster.underlayMtu - tunnelOverhead(spec.mode, ctx.cluster.underlayIp), uplink: undefined, nativeVlan: undefined };
  }
  let mtu = Infinity;
  for (const remote of spec.remotes) {
    const under = await routeMtu(remote).catch(() => {
      throw new InvalidOptionError('remote', `no route to remote ${remote} on this host: fix the underlay, or give --opt mtu`);
    });
    mtu = Math.min(mtu, under.mtu - tunnelOverhead(spec.mode, remote));
  }
  return { mtu, uplink: undefined, nativeVlan: undefined };
}

/**
 * DeleteNetwork is invoked by `docker network rm`, after Docker has released
 * the network's addresses and once no endpoint is left. Unknown IDs are
 * success. The network's spares, tunnel and host ports go; the uplink follows
 * the VLANs left on the bridge; a bridge ovsvlan created goes with its last
 * network (dataplane.ts removeNetwork).
 *
 * Endpoints ovsvlan still holds for it are stale (Docker refuses `network rm`
 * while it has endpoints; a crash can leave ours behind) and are removed with
 * it: refusing would not help, since Docker only logs the error and forgets
 * the network anyway. Returns their IDs, so that their leases can be freed
 * (Docker releases the network's pool before DeleteNetwork, which frees them
 * with it; a pool that outlived a crash still bound to the network is freed
 * of them here, and by reconciliation's pool-orphan rule). In cluster mode
 * this host then leaves the network's definition in etcd, which stays while
 * another host has the network. A DHCP network with dhcp_release=remove
 * first gives back the leases it parked (reconcile/dhcp-release.ts
 * giveBackAll, bounded): its stopped containers cannot come back to them.
 */
export async function deleteNetwork(ctx: DriverContext, id: string): Promise<void> {
  const { left, ident } = await ctx.locks.run(id, async () => {
    const n = ctx.state.network(id);
    if (!n) return { left: [], ident: undefined };
    // dhcp_release=remove: no container comes back to this network's parked leases; given back from its spares, before they go
    if (n.dhcp?.release === 'remove') await ctx.releases?.giveBackAll(n);
    const gone = await ctx.locks.run(bridgeLockKey(n.bridge), () => ctx.plane.removeNetwork(n));
    ctx.log.info({ network: shortId(id), bridge: n.bridge, vlan: n.vlan, mode: n.mode, endpointsLeft: gone.length }, 'network deleted');
    return { left: gone, ident: n.ident };
  });
  await ctx.ipam.releaseEndpoints(id, left);
  // in cluster mode the definition stays for the other hosts; it goes with its last one (never fails: address sync finishes it)
  if (ident !== undefined) await ctx.cluster?.networks.leave(ident);
}

/** Runs `fn` holding every key, taken in the order given. */
function withLocks<T>(ctx: DriverContext, keys: readonly string[], fn: () => Promise<T>): Promise<T> {
  const [first, ...rest] = keys;
  return first === undefined ? fn() : ctx.locks.run(first, () => withLocks(ctx, rest, fn));
}

/** A bridge name that is already a non-OVS interface (eth0, docker0…) would hijack it: refuse. */
async function refuseNonOvsLink(ctx: DriverContext, name: string): Promise<void> {
  if (await ctx.vswitch.getBridge(name)) return;
  const link = await getLink(name);
  if (link) {
    throw new InvalidOptionError('bridge', `option "bridge": "${name}" is an existing ${link.kind ?? 'network'} interface, not an OVS bridge; choose another bridge name`);
  }
}

function sameSpec(n: NetworkRecord, spec: NetworkSpec): boolean {
  if (n.mode !== spec.mode || n.hostIp !== spec.hostIp || (spec.mtu !== undefined && spec.mtu !== n.mtu)) return false;
  if (JSON.stringify(n.dhcp ?? null) !== JSON.stringify(spec.dhcp ?? null)) return false;
  return spec.mode === 'vlan'
    ? n.vlan === spec.vlan && n.bridge === spec.bridge
    : n.key === spec.key && n.remotes.join(',') === spec.remotes.join(',');
}

/**
 * host_ip must be of a family the network has a subnet of (an IPv6 host_ip on
 * an IPv4-only network is a typo), inside one of those subnets with its
 * prefix length (a shorter one would route more than the network to it), and
 * not its network or broadcast address.
 */
function checkHostIp(hostIp: string | undefined, req: CreateNetworkReq): void {
  if (!hostIp || req.ipv4.length + req.ipv6.length === 0) return;
  const v6 = hostIp.includes(':');
  const subnets = (v6 ? req.ipv6 : req.ipv4).map((p) => p.pool);
  const all = [...req.ipv4, ...req.ipv6].map((p) => p.pool).join(', ');
  if (subnets.length === 0) {
    throw new InvalidOptionError('host_ip', `option "host_ip": ${hostIp} is an IPv${v6 ? 6 : 4} address but the network has no IPv${v6 ? 6 : 4} subnet (its subnets: ${all})`);
  }
  const a = parseInterfaceAddress(hostIp);
  const inside = a && subnets.map(parsePrefix).find((p) => p !== undefined && holds(p, a));
  if (!a || !inside) throw new InvalidOptionError('host_ip', `option "host_ip": ${hostIp} is not inside the network's subnets (${all}); give an address of one of them`);
  if (reserved(inside).includes(a.value)) throw new InvalidOptionError('host_ip', `option "host_ip": ${hostIp} is the network or broadcast address of ${inside.cidr}`);
  if (a.bits !== inside.bits) throw new InvalidOptionError('host_ip', `option "host_ip": ${hostIp} must have the prefix length of its subnet ${inside.cidr} (/${inside.bits})`);
}

function stripMask(cidr: string | undefined): string | undefined {
  return cidr ? cidr.split('/')[0] : undefined;
}
