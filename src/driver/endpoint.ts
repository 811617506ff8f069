// CreateEndpoint / DeleteEndpoint: one veth pair per endpoint; its host end is
// an OVS access port tagged with the network's VLAN. The pair and the port are
// the endpoint's alone: their names come from its full ID (names.ts), and a
// link or port of that name is reused or deleted only when its mark says it is
// this endpoint's (the veth's alias, the port's external_ids).
import { ConflictError } from '../errors.js';
import { createVethPair, deleteLink, disableTxOffload, getLink, setAlias, type LinkInfo } from '../link/links.js';
import { hardenHostEnd } from '../link/harden.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';
import type { DriverContext } from './context.js';
import { linkMark, portExternalIds, shortId, vethNames } from '../names.js';

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
 * the interface, so Docker's own values are never echoed back. A retry for
 * the same network is idempotent; the ID of another network's endpoint is
 * refused. When a step fails, or the record cannot be saved, what was made
 * for a new endpoint is removed again.
 */
export async function createEndpoint(ctx: DriverContext, req: CreateEndpointRequest): Promise<{ created: boolean }> {
  return ctx.locks.run(req.networkId, async () => {
    const net = ctx.state.requireNetwork(req.networkId);
    const names = vethNames(req.endpointId);
    return ctx.locks.run(linkLockKey(names.host), async () => {
      const known = endpointOf(ctx, req.networkId, req.endpointId);
      const record: EndpointRecord = {
        id: req.endpointId,
        networkId: req.networkId,
        hostIf: known?.hostIf ?? names.host,
        containerIf: known?.containerIf ?? names.container,
        addressV4: req.addressV4 || undefined,
        addressV6: req.addressV6 || undefined,
        createdAt: known?.createdAt ?? Date.now(),
      };
      refuseTakenNames(ctx, record);
      await wireEndpoint(ctx, net, record);
      try {
        await ctx.state.putEndpoint(record);
      } catch (err) {
        if (!known) await unwireQuietly(ctx, record);
        throw err;
      }
      ctx.log.info({ network: shortId(net.id), endpoint: shortId(req.endpointId), port: record.hostIf, vlan: net.vlan }, 'endpoint created');
      return { created: !known };
    });
  });
}

/**
 * The endpoint's record, or undefined for an unknown one. A request that
 * names another network than the endpoint's is refused: Join, Leave,
 * DeleteEndpoint and CreateEndpoint act only on the network's own endpoints.
 */
export function endpointOf(ctx: DriverContext, networkId: string, endpointId: string): EndpointRecord | undefined {
  const ep = ctx.state.endpoint(endpointId);
  if (ep && ep.networkId !== networkId) {
    throw new ConflictError(`endpoint ${shortId(endpointId)} belongs to network ${shortId(ep.networkId)}, not to network ${shortId(networkId)}; nothing was changed`);
  }
  return ep;
}

/** Two records never name the same link (IDs whose names collide, by chance or on purpose). */
function refuseTakenNames(ctx: DriverContext, ep: EndpointRecord): void {
  const mine = [ep.hostIf, ep.containerIf];
  const holder = ctx.state.endpoints().find((e) => e.id !== ep.id && (mine.includes(e.hostIf) || mine.includes(e.containerIf)));
  if (holder) {
    throw new ConflictError(`endpoint ${shortId(ep.id)} would use veth ${ep.hostIf}, the name of endpoint ${shortId(holder.id)} ` +
      `of network ${shortId(holder.networkId)}; ovsvlan never shares a link: use another endpoint ID`);
  }
}

/**
 * Makes the veth pair (or finds this endpoint's own) and attaches its host end
 * as the tagged port. Idempotent: a retried call and a repair use it. When a
 * step fails, an endpoint not yet recorded loses everything made for it, the
 * port included (its transaction may be committed even though ovs-vswitchd did
 * not answer); a recorded one keeps its links for the next repair.
 */
export async function wireEndpoint(ctx: DriverContext, net: NetworkRecord, ep: EndpointRecord): Promise<void> {
  const recorded = ctx.state.endpoint(ep.id) !== undefined;
  try {
    const madeLink = await makeVeth(ctx, net, ep);
    // a pair made earlier has it already, and its container end may be inside the container by now
    if (madeLink && net.datapath === 'netdev') await disableTxOffload(ep.containerIf);
    await hardenHostEnd(ep.hostIf, net.datapath, madeLink);
    await ctx.vswitch.ensureBridge(net.bridge, net.datapath);
    await ctx.vswitch.attachPort({ bridge: net.bridge, name: ep.hostIf, tag: net.vlan, externalIds: portExternalIds(net.id, ep.id) });
  } catch (err) {
    if (!recorded) await unwireQuietly(ctx, ep);
    throw err;
  }
}

/** Makes the pair; false when this endpoint's pair exists already. A link of that name that is not its own is refused. */
async function makeVeth(ctx: DriverContext, net: NetworkRecord, ep: EndpointRecord): Promise<boolean> {
  if (await createVethPair(ep.hostIf, ep.containerIf, net.mtu, linkMark(ep.id))) return true;
  const host = await getLink(ep.hostIf);
  if (host && isEndpointsLink(ctx, ep, host)) {
    if (host.alias === undefined) await setAlias(host.name, linkMark(ep.id));
    return false;
  }
  const held = host ?? (await getLink(ep.containerIf));
  const whose = held?.alias ? `marked "${held.alias.slice(0, 80)}"` : 'not marked as this endpoint\'s';
  throw new ConflictError(`cannot make veth ${ep.hostIf} for endpoint ${shortId(ep.id)}: link ${held?.name ?? ep.hostIf} exists and is ${whose}; ` +
    'ovsvlan never shares a link (reconciliation removes one that no endpoint has)');
}

/**
 * Whether a link is this endpoint's: marked with its ID, or, made before links
 * were marked, unmarked and named by this endpoint's record and no other's.
 */
function isEndpointsLink(ctx: DriverContext, ep: EndpointRecord, link: LinkInfo): boolean {
  if (link.alias !== undefined) return link.alias === linkMark(ep.id);
  const namedBy = ctx.state.endpoints().filter((e) => e.hostIf === link.name || e.containerIf === link.name);
  return namedBy.length === 1 && namedBy[0]?.id === ep.id;
}

/**
 * Removes the endpoint's port and veth pair, each only when its mark says it
 * is this endpoint's (another's, of the same name, is left alone); what is
 * gone already is success. `wait: false`: see Vswitch.detachPort.
 */
export async function unwireEndpoint(ctx: DriverContext, ep: EndpointRecord, opts = { wait: true }): Promise<void> {
  await ctx.vswitch.detachPort(ep.hostIf, portExternalIds(ep.networkId, ep.id), opts);
  // the host end takes the container end with it; the latter is only left if the pair was split somehow
  for (const name of [ep.hostIf, ep.containerIf]) {
    const link = await getLink(name);
    if (link && isEndpointsLink(ctx, ep, link)) await deleteLink(name);
  }
}

/** A rollback: every step is tried, failures are logged (reconciliation finishes the job), the caller's error stands. */
async function unwireQuietly(ctx: DriverContext, ep: EndpointRecord): Promise<void> {
  await unwireEndpoint(ctx, ep, { wait: false }).catch((err: unknown) =>
    ctx.log.error({ err, endpoint: shortId(ep.id), port: ep.hostIf }, 'rollback of endpoint failed; reconciliation will finish it'));
}

/**
 * DeleteEndpoint is invoked after Leave, once Docker has moved the container
 * end back to the host (`docker stop`, `docker rm -f`, `docker network
 * disconnect`). Unknown endpoints are success (Docker sends this for stale
 * endpoints at start): only a port and veth marked as theirs, left by a create
 * whose record was never saved, are removed. An endpoint of another network
 * is refused.
 */
export async function deleteEndpoint(ctx: DriverContext, networkId: string, endpointId: string): Promise<void> {
  await ctx.locks.run(networkId, async () => {
    const ep = endpointOf(ctx, networkId, endpointId);
    const names = vethNames(endpointId);
    await removeEndpoint(ctx, ep ?? { id: endpointId, networkId, hostIf: names.host, containerIf: names.container, addressV4: undefined, addressV6: undefined, createdAt: 0 });
    ctx.log.info({ network: shortId(networkId), endpoint: shortId(endpointId), known: Boolean(ep) }, 'endpoint deleted');
  });
}

/** Unwires an endpoint and forgets it (under its network's lock, or in reconciliation). */
export async function removeEndpoint(ctx: DriverContext, ep: EndpointRecord): Promise<void> {
  await ctx.locks.run(linkLockKey(vethNames(ep.id).host), async () => {
    await unwireEndpoint(ctx, ep);
    if (ctx.state.endpoint(ep.id)) await ctx.state.removeEndpoint(ep.id);
  });
}

/**
 * Calls for one endpoint ID are serialised across networks (each network has
 * its own lock): two calls with one ID on two networks, or two IDs whose names
 * collide, must not race for the same link.
 */
const linkLockKey = (hostIf: string): string => `link:${hostIf}`;
