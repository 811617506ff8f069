// CreateEndpoint / DeleteEndpoint: one veth pair per endpoint; its host end is
// an OVS access port tagged with the network's VLAN.
import { createVethPair, deleteLink, disableTxOffload } from '../link/links.js';
import { hardenHostEnd } from '../link/harden.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';
import type { DriverContext } from './context.js';
import { portExternalIds, shortId, vethNames } from '../names.js';

export interface CreateEndpointRequest {
  networkId: string;
  endpointId: string;
  /** CIDR addresses Docker's IPAM gave (may be empty). */
  addressV4: string | undefined;
  addressV6: string | undefined;
}

/**
 * CreateEndpoint is invoked when a container is connected to a network
 * (`docker run --net`, `docker network connect`), before Join. It leaves a
 * veth pair whose host end is attached to the bridge with the VLAN tag and
 * ovsvlan's external_ids. Addresses stay Docker's: nothing is returned for
 * the interface, so Docker's own values are never echoed back.
 */
export async function createEndpoint(ctx: DriverContext, req: CreateEndpointRequest): Promise<void> {
  await ctx.locks.run(req.networkId, async () => {
    const net = ctx.state.requireNetwork(req.networkId);
    const names = vethNames(req.endpointId);
    const record: EndpointRecord = {
      id: req.endpointId,
      networkId: req.networkId,
      hostIf: names.host,
      containerIf: names.container,
      addressV4: req.addressV4 || undefined,
      addressV6: req.addressV6 || undefined,
      createdAt: Date.now(),
    };
    await wireEndpoint(ctx, net, record);
    try {
      await ctx.state.putEndpoint(record);
    } catch (err) {
      await unwireEndpoint(ctx, record);
      throw err;
    }
    ctx.log.info({ network: shortId(net.id), endpoint: shortId(req.endpointId), port: names.host, vlan: net.vlan }, 'endpoint created');
  });
}

/**
 * Makes the veth pair and the tagged port. Idempotent: a retried call finds
 * the pair and re-applies the port. Undoes its own work when a step fails.
 */
export async function wireEndpoint(ctx: DriverContext, net: NetworkRecord, ep: EndpointRecord): Promise<void> {
  const madeLink = await createVethPair(ep.hostIf, ep.containerIf, net.mtu);
  try {
    // a pair made earlier has it already, and its container end may be inside the container by now
    if (madeLink && net.datapath === 'netdev') await disableTxOffload(ep.containerIf);
    await hardenHostEnd(ep.hostIf, net.datapath, madeLink);
    await ctx.vswitch.ensureBridge(net.bridge, net.datapath);
    await ctx.vswitch.attachPort({ bridge: net.bridge, name: ep.hostIf, tag: net.vlan, externalIds: portExternalIds(net.id, ep.id) });
  } catch (err) {
    if (madeLink) await deleteLink(ep.hostIf);
    throw err;
  }
}

/** Removes the port and the veth pair; what is already gone is success. */
export async function unwireEndpoint(ctx: DriverContext, ep: EndpointRecord): Promise<void> {
  await ctx.vswitch.detachPort(ep.hostIf);
  await deleteLink(ep.hostIf); // takes the container end with it
  await deleteLink(ep.containerIf); // only left if the pair was split somehow
}

/**
 * DeleteEndpoint is invoked after Leave, once Docker has moved the container
 * end back to the host (`docker stop`, `docker rm -f`, `docker network
 * disconnect`). Unknown endpoints are success: Docker sends this for stale
 * endpoints at start.
 */
export async function deleteEndpoint(ctx: DriverContext, networkId: string, endpointId: string): Promise<void> {
  await ctx.locks.run(networkId, async () => {
    const ep = ctx.state.endpoint(endpointId);
    const names = vethNames(endpointId);
    await unwireEndpoint(ctx, ep ?? { id: endpointId, networkId, hostIf: names.host, containerIf: names.container, addressV4: undefined, addressV6: undefined, createdAt: 0 });
    if (ep) await ctx.state.removeEndpoint(endpointId);
    ctx.log.info({ network: shortId(networkId), endpoint: shortId(endpointId), known: Boolean(ep) }, 'endpoint deleted');
  });
}
