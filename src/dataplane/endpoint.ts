// An endpoint's data plane: one veth pair whose host end is an OVS access
// port tagged with the network's VLAN. The pair and the port are the
// endpoint's alone: a link or port is reused or deleted only when its mark
// says it is this endpoint's (the veth's alias, the port's external_ids), or,
// for a spare handed to it, when its record names it and the mark says spare
// of its network (a crash between the record's save and the re-mark).
import { ConflictError } from '../errors.js';
import { hardenHostEnd } from '../link/harden.js';
import { createVethPair, deleteLink, disableTxOffload, getLink, setAlias, type LinkInfo } from '../link/links.js';
import { hasMarks, linkMark, portExternalIds, shortId, spareExternalIds, spareMark, vethNames } from '../names.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';
import type { StateCache } from '../store/state.js';
import type { DataplaneContext } from './context.js';

/**
 * Makes the veth pair (or finds this endpoint's own) and attaches its host end
 * as the tagged port, waiting for ovs-vswitchd. Idempotent: CreateEndpoint
 * without a spare, its retries and reconciliation's repair use it. When a
 * step fails, an endpoint not yet recorded loses everything made for it, the
 * port included (its transaction may be committed even though ovs-vswitchd did
 * not answer); a recorded one keeps its links for the next repair.
 */
export async function wireEndpoint(ctx: DataplaneContext, net: NetworkRecord, ep: EndpointRecord): Promise<void> {
  const recorded = ctx.state.endpoint(ep.id) !== undefined;
  try {
    const madeLink = await makeVeth(ctx, net, ep);
    // a pair made earlier has it already, and its container end may be inside the container by now
    if (madeLink && net.datapath === 'netdev') await disableTxOffload(ep.containerIf);
    await hardenHostEnd(ep.hostIf, net.datapath, madeLink);
    await ctx.vswitch.ensureBridge(net.bridge, net.datapath);
    // a spare handed to it whose re-mark was cut short becomes its own first
    const port = recorded ? await ctx.vswitch.getPort(ep.hostIf) : undefined;
    if (port && hasMarks(port.externalIds, spareExternalIds(net.id))) {
      await ctx.vswitch.remarkPort(ep.hostIf, spareExternalIds(net.id), portExternalIds(net.id, ep.id));
    }
    await ctx.vswitch.attachPort({ bridge: net.bridge, name: ep.hostIf, tag: net.vlan, externalIds: portExternalIds(net.id, ep.id) });
  } catch (err) {
    if (!recorded) await unwireQuietly(ctx, ep);
    throw err;
  }
}

/**
 * Makes a spare handed out at CreateEndpoint the endpoint's, once its record
 * is saved: the port's marks (no wait for ovs-vswitchd: external_ids do not
 * change forwarding), then the veth's alias. Reconciliation's port-remark
 * finishes it after a crash.
 */
export async function remarkSpare(ctx: DataplaneContext, ep: EndpointRecord): Promise<void> {
  await ctx.vswitch.remarkPort(ep.hostIf, spareExternalIds(ep.networkId), portExternalIds(ep.networkId, ep.id));
  await setAlias(ep.hostIf, linkMark(ep.id));
  await setAlias(ep.containerIf, linkMark(ep.id)).catch(() => undefined); // it may be inside the container already
}

/** Makes the pair; false when this endpoint's pair exists already. A link of that name that is not its own is refused. */
async function makeVeth(ctx: DataplaneContext, net: NetworkRecord, ep: EndpointRecord): Promise<boolean> {
  if (await createVethPair(ep.hostIf, ep.containerIf, net.mtu, linkMark(ep.id))) return true;
  const host = await getLink(ep.hostIf);
  if (host && isEndpointsLink(ctx.state, ep, host)) {
    if (host.alias !== linkMark(ep.id)) await setAlias(host.name, linkMark(ep.id));
    return false;
  }
  const held = host ?? (await getLink(ep.containerIf));
  const whose = held?.alias ? `marked "${held.alias.slice(0, 80)}"` : 'not marked as this endpoint\'s';
  throw new ConflictError(`cannot make veth ${ep.hostIf} for endpoint ${shortId(ep.id)}: link ${held?.name ?? ep.hostIf} exists and is ${whose}; ` +
    'ovsvlan never shares a link (reconciliation removes one that no endpoint has)');
}

/**
 * Whether a link is this endpoint's: marked with its ID; or named by its
 * record and marked as a spare of its network (handed to it, not re-marked
 * yet); or, made before links were marked, unmarked and named by this
 * endpoint's record and no other's.
 */
function isEndpointsLink(state: StateCache, ep: EndpointRecord, link: LinkInfo): boolean {
  if (link.alias === linkMark(ep.id)) return true;
  const namedBy = state.endpointsByLink(link.name);
  const onlyMine = namedBy.length === 1 && namedBy[0]?.id === ep.id;
  return onlyMine && (link.alias === undefined || link.alias === spareMark(ep.networkId));
}

/**
 * Removes the endpoint's port and veth pair, each only when its mark says it
 * is this endpoint's (another's, of the same name, is left alone); what is
 * gone already is success. `wait: false`: see Vswitch.detachPort.
 */
export async function unwireEndpoint(ctx: DataplaneContext, ep: EndpointRecord, opts = { wait: true }): Promise<void> {
  await ctx.vswitch.detachPort(ep.hostIf, portExternalIds(ep.networkId, ep.id), opts);
  // the host end takes the container end with it; the latter is only left if the pair was split somehow
  for (const name of [ep.hostIf, ep.containerIf]) {
    const link = await getLink(name);
    if (link && isEndpointsLink(ctx.state, ep, link)) await deleteLink(name);
  }
}

/** A rollback: every step is tried, failures are logged (reconciliation finishes the job), the caller's error stands. */
export async function unwireQuietly(ctx: DataplaneContext, ep: EndpointRecord): Promise<void> {
  await unwireEndpoint(ctx, ep, { wait: false }).catch((err: unknown) =>
    ctx.log.error({ err, endpoint: shortId(ep.id), port: ep.hostIf }, 'rollback of endpoint failed; reconciliation will finish it'));
}

/** Unwires an endpoint and forgets it, waiting for both (reconciliation, and DeleteNetwork's stale endpoints). */
export async function removeEndpoint(ctx: DataplaneContext, ep: EndpointRecord): Promise<void> {
  await ctx.locks.run(linkLockKey(ep.hostIf), async () => {
    await unwireEndpoint(ctx, ep);
    if (ctx.state.endpoint(ep.id)) await ctx.state.removeEndpoint(ep.id);
  });
}

/** The record of an endpoint ovsvlan does not know: the names a create of it would have used. */
export function unknownEndpoint(networkId: string, endpointId: string): EndpointRecord {
  const names = vethNames(endpointId);
  return { id: endpointId, networkId, hostIf: names.host, containerIf: names.container, addressV4: undefined, addressV6: undefined, createdAt: 0 };
}

/**
 * Calls for one veth are serialised across networks (each network has its
 * own lock): two calls with one ID on two networks, or two IDs whose names
 * collide, must not race for the same link.
 */
export const linkLockKey = (hostIf: string): string => `link:${hostIf}`;

/**
 * CreateEndpoint holds it (inside its network's lock): two creates of one
 * endpoint ID on two networks are serialised, so the second sees the first's
 * record and is refused (the link lock alone does not do it: a spare's name
 * is random).
 */
export const endpointLockKey = (endpointId: string): string => `endpoint:${endpointId}`;
