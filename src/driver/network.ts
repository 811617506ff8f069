// CreateNetwork / DeleteNetwork: a Docker network is an OVS bridge plus a VLAN
// tag. Docker never replays CreateNetwork after a restart, so the record is
// persisted before we answer.
import { ConflictError } from '../errors.js';
import { getLink } from '../link/links.js';
import type { NetworkRecord } from '../store/records.js';
import type { DriverContext } from './context.js';
import { shortId } from './names.js';
import { parseNetworkOptions } from './options.js';

export interface IpamPool {
  pool: string;
  /** CIDR, as Docker sends it. */
  gateway: string | undefined;
}

export interface CreateNetworkRequest {
  id: string;
  /** The `-o` options (com.docker.network.generic). */
  options: Record<string, unknown>;
  internal: boolean;
  ipv4: IpamPool[];
  ipv6: IpamPool[];
}

/**
 * CreateNetwork is invoked by `docker network create`, after Docker's IPAM has
 * given the pools. Options are checked before anything is touched; the bridge
 * is created (and marked ours) when missing, and removed again if a later step fails.
 */
export async function createNetwork(ctx: DriverContext, req: CreateNetworkRequest): Promise<void> {
  const spec = parseNetworkOptions(req.options, ctx.defaultBridge);
  await ctx.locks.run(req.id, async () => {
    const existing = ctx.state.network(req.id);
    if (existing) {
      if (existing.vlan === spec.vlan && existing.bridge === spec.bridge && existing.mtu === spec.mtu) return; // a retry
      throw new ConflictError(`network ${shortId(req.id)} already exists with other options`);
    }
    const clash = ctx.state.networks().find((n) => n.bridge === spec.bridge && n.vlan === spec.vlan);
    if (clash) {
      throw new ConflictError(`vlan ${spec.vlan} on bridge ${spec.bridge} is already used by network ${shortId(clash.id)}; use another --opt vlan`);
    }
    await ctx.locks.run(bridgeLockKey(spec.bridge), async () => {
      await refuseNonOvsLink(ctx, spec.bridge);
      const { bridge, created } = await ctx.vswitch.ensureBridge(spec.bridge, ctx.datapath);
      const record: NetworkRecord = {
        id: req.id,
        bridge: spec.bridge,
        vlan: spec.vlan,
        mtu: spec.mtu,
        datapath: bridge.datapath,
        gatewayV4: stripMask(req.ipv4[0]?.gateway),
        gatewayV6: stripMask(req.ipv6[0]?.gateway),
        internal: req.internal,
      };
      try {
        await ctx.state.putNetwork(record);
      } catch (err) {
        if (created) await ctx.vswitch.deleteBridge(spec.bridge);
        throw err;
      }
      ctx.log.info({ network: shortId(req.id), bridge: spec.bridge, vlan: spec.vlan, mtu: spec.mtu, bridgeCreated: created }, 'network created');
    });
  });
}

/**
 * DeleteNetwork is invoked by `docker network rm`, after Docker has released
 * the network's addresses and once no endpoint is left. Unknown IDs are success.
 * A bridge that ovsvlan created goes away with the last network on it.
 */
export async function deleteNetwork(ctx: DriverContext, id: string): Promise<void> {
  await ctx.locks.run(id, async () => {
    const n = ctx.state.network(id);
    if (!n) return;
    await ctx.state.removeNetwork(id);
    await ctx.locks.run(bridgeLockKey(n.bridge), async () => {
      if (ctx.state.networks().some((o) => o.bridge === n.bridge)) return;
      const b = await ctx.vswitch.getBridge(n.bridge);
      if (b?.ours && b.portNames.every((p) => p === n.bridge)) {
        await ctx.vswitch.deleteBridge(n.bridge);
        ctx.log.info({ bridge: n.bridge }, 'bridge removed with its last network');
      }
    });
    ctx.log.info({ network: shortId(id), bridge: n.bridge, vlan: n.vlan }, 'network deleted');
  });
}

/** Bridge creation and removal are serialised per bridge, across networks. */
const bridgeLockKey = (bridge: string): string => `bridge:${bridge}`;

/** A bridge name that is already a non-OVS interface (eth0, docker0…) would hijack it: refuse. */
async function refuseNonOvsLink(ctx: DriverContext, name: string): Promise<void> {
  if (await ctx.vswitch.getBridge(name)) return;
  const link = await getLink(name);
  if (link) {
    throw new ConflictError(`option "bridge": "${name}" is an existing ${link.kind ?? 'network'} interface, not an OVS bridge; choose another bridge name`);
  }
}

function stripMask(cidr: string | undefined): string | undefined {
  return cidr ? cidr.split('/')[0] : undefined;
}
