// CreateEndpoint / DeleteEndpoint: the endpoint's record, its address claim
// and its data plane (dataplane/), in an order that a crash at any point
// leaves repairable by reconciliation. The veth pair and port are the
// endpoint's alone; see dataplane/endpoint.ts for how that is checked.
import { performance } from 'node:perf_hooks';
import { ConflictError } from '../errors.js';
import { canonicalAddress } from '../ipam/address.js';
import { shortId, vethNames } from '../names.js';
import type { CreateEndpointReq } from '../protocol/types.js';
import type { Spare } from '../dataplane/dataplane.js';
import { endpointLockKey, linkLockKey, unknownEndpoint } from '../dataplane/endpoint.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';
import type { DriverContext } from './context.js';
import { checkDhcpEndpoint, dhcpInterface, rememberMac, takeFirstLease } from './dhcp-endpoint.js';

/** What CreateEndpoint answers: `iface` only for a DHCP network's endpoint (the lease's address, and the MAC ovsvlan chose). */
export interface CreatedEndpoint {
  created: boolean;
  iface?: { address: string; mac: string | undefined };
}

/**
 * CreateEndpoint is invoked when a container is connected to a network
 * (`docker run --net`, `docker network connect`), before Join. It hands the
 * endpoint one of the network's spares (a veth pair already attached and
 * tagged): from the pool, or, the pool being empty while a refill is making
 * spares, one of those (readySpare). With none, it makes a pair and attaches
 * it, waiting for ovs-vswitchd. The record and the claim of Docker's
 * addresses are saved in one batch (one fsync) and the call answers; a
 * spare's re-mark as the endpoint's follows in the background
 * (Dataplane.claimLater says why that is safe), and so does the refill.
 * Addresses stay Docker's: nothing is returned for the interface, except on a
 * DHCP network (dhcp-endpoint.ts), whose endpoint gets its address from the
 * first lease, taken once the links are ready and before the record is
 * saved, and is answered with it. A retry for
 * the same network is idempotent; the ID of another network's endpoint is
 * refused. When a step fails, what this call made (record, claim, pair) is
 * taken back and its error stands.
 */
export async function createEndpoint(ctx: DriverContext, req: CreateEndpointReq): Promise<CreatedEndpoint> {
  const t0 = performance.now();
  // the ID's lock too: a create of the same ID on another network waits, then finds this one's record and is refused
  return ctx.locks.run(req.networkId, () => ctx.locks.run(endpointLockKey(req.endpointId), async () => {
    const net = ctx.state.requireNetwork(req.networkId);
    if (net.dhcp) checkDhcpEndpoint(net, req);
    await ctx.plane.settled(req.endpointId); // a re-mark or DeleteEndpoint of this ID still finishing in the background
    const known = endpointOf(ctx, req.networkId, req.endpointId);
    if (known) {
      const again = await retryEndpoint(ctx, net, known, req);
      return { created: false, iface: dhcpInterface(again, req) };
    }
    const spare = await readySpare(ctx, net);
    const names = spare ? { host: spare.host, container: spare.container } : vethNames(req.endpointId);
    let record: EndpointRecord = {
      id: req.endpointId, networkId: req.networkId, hostIf: names.host, containerIf: names.container,
      addressV4: req.addressV4 || undefined, addressV6: req.addressV6 || undefined, createdAt: Date.now(),
    };
    await ctx.locks.run(linkLockKey(record.hostIf), async () => {
      if (!spare) {
        refuseTakenNames(ctx, record);
        await ctx.plane.wireEndpoint(net, record);
      }
      if (net.dhcp) {
        const dhcp = net.dhcp;
        const made = record;
        record = await takeFirstLease(ctx, net, dhcp, made, req).catch(async (err: unknown) => {
          await undoLinks(ctx, made, spare);
          throw err;
        });
      }
      await saveOrUndo(ctx, record, req, spare);
    });
    if (spare) ctx.plane.claimLater(record);
    ctx.plane.refill(net.id);
    ctx.log.info({ network: shortId(net.id), endpoint: shortId(req.endpointId), port: record.hostIf, vlan: net.vlan, spare: Boolean(spare),
      ms: Math.round((performance.now() - t0) * 10) / 10 }, 'endpoint created');
    return { created: true, iface: dhcpInterface(record, req) };
  }));
}

/**
 * A spare of the network whose port carries traffic on its VLAN now: from the
 * pool, or from the refill under way when the pool is empty; undefined when
 * there is none. A spare whose port is gone (OVS restarted with an empty
 * database, not reconciled yet) is reaped and not used: the caller makes its
 * own pair and waits for ovs-vswitchd.
 */
async function readySpare(ctx: DriverContext, net: NetworkRecord): Promise<Spare | undefined> {
  const spare = ctx.plane.takeSpare(net.id) ?? await ctx.plane.awaitSpare(net.id);
  if (!spare) return undefined;
  const attached = await ctx.plane.isAttached(spare, net).catch((err: unknown) => {
    ctx.plane.returnSpare(spare); // OVS out of reach: the call fails, the spare stays the pool's
    throw err;
  });
  if (attached) return spare;
  ctx.log.warn({ network: shortId(net.id), port: spare.host }, 'a spare\'s port is gone (OVS lost it); the endpoint gets a pair of its own');
  ctx.plane.discardSpare(spare);
  return undefined;
}

/**
 * The record and the address claim, started together so that they share one
 * save. When either fails, both are taken back (a claim whose record is gone
 * is freed by Docker's ReleaseAddress, which follows a failed create, or by
 * reconciliation's lease-orphan) and the endpoint's links and port go: a
 * spare back to the pool, a pair made for it removed.
 */
async function saveOrUndo(ctx: DriverContext, record: EndpointRecord, req: CreateEndpointReq, spare: Spare | undefined): Promise<void> {
  const saved = ctx.state.putEndpoint(record);
  const claimed = ctx.ipam.claimAddresses(req.networkId, req.endpointId, [req.addressV4, req.addressV6]);
  const [put, claim] = await Promise.allSettled([saved, claimed]);
  if (put.status === 'fulfilled' && claim.status === 'fulfilled') return;
  const forgotten = put.status === 'rejected' || await ctx.state.removeEndpoint(record.id).then(() => true, () => false);
  if (forgotten) await undoLinks(ctx, record, spare);
  throw put.status === 'rejected' ? put.reason : (claim as PromiseRejectedResult).reason;
}

/**
 * The links a failed create made go: a spare back to the pool, a pair made for
 * the endpoint removed. A spare whose container end is gone (a refused DHCP
 * lease is given back from it) is not returned but reaped, port included.
 */
async function undoLinks(ctx: DriverContext, record: EndpointRecord, spare: Spare | undefined): Promise<void> {
  if (spare) await ctx.plane.undoHandOut(spare);
  else await ctx.plane.unwireQuietly(record);
}

/**
 * A retried CreateEndpoint of an endpoint that exists: its data plane repaired
 * if need be, its addresses saved and claimed (a DHCP endpoint keeps its
 * lease's). A retry names the addresses the endpoint has; one with others is
 * refused, nothing changed: the endpoint's addresses would change under its
 * container, and the leases of the old ones would stay held by it. Returns
 * the record as saved.
 */
async function retryEndpoint(ctx: DriverContext, net: NetworkRecord, known: EndpointRecord, req: CreateEndpointReq): Promise<EndpointRecord> {
  return ctx.locks.run(linkLockKey(known.hostIf), async () => {
    // compared with the record as it is under the link's lock: a concurrent change of it is seen, not overwritten
    const current = ctx.state.endpoint(known.id) ?? known;
    const record: EndpointRecord = current.dhcp ? current : { ...current, addressV4: req.addressV4 || undefined, addressV6: req.addressV6 || undefined };
    const changed = (['addressV4', 'addressV6'] as const).filter((k) => !sameInterfaceAddress(current[k], record[k]));
    if (changed.length > 0) {
      const was = changed.map((k) => `${k === 'addressV4' ? 'Interface.Address' : 'Interface.AddressIPv6'} ${current[k] ?? '(none)'}, not ${record[k] ?? '(none)'}`);
      throw new ConflictError(`endpoint ${shortId(known.id)} exists with ${was.join(' and ')}; a CreateEndpoint of an existing endpoint must give ` +
        'the addresses it has (an endpoint\'s addresses never change); nothing was changed');
    }
    await ctx.plane.wireEndpoint(net, record);
    await Promise.all([ctx.state.putEndpoint(record), ctx.ipam.claimAddresses(req.networkId, req.endpointId, [req.addressV4, req.addressV6])]);
    return record;
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

/** Whether two interface addresses (CIDR) are the same address with the same prefix length, or both absent. */
function sameInterfaceAddress(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalAddress(a) === canonicalAddress(b) && a.split('/')[1] === b.split('/')[1];
}

/** Two records never name the same link (IDs whose names collide, by chance or on purpose). */
function refuseTakenNames(ctx: DriverContext, ep: EndpointRecord): void {
  const holder = [ep.hostIf, ep.containerIf].flatMap((name) => ctx.state.endpointsByLink(name)).find((e) => e.id !== ep.id);
  if (holder) {
    throw new ConflictError(`endpoint ${shortId(ep.id)} would use veth ${ep.hostIf}, the name of endpoint ${shortId(holder.id)} ` +
      `of network ${shortId(holder.networkId)}; ovsvlan never shares a link: use another endpoint ID`);
  }
}

/**
 * DeleteEndpoint is invoked after Leave, once Docker has moved the container
 * end back to the host (`docker stop`, `docker rm -f`, `docker network
 * disconnect`). The record goes (durably) before the answer; the port and the
 * veth go after it, in the background, batched with other deletes
 * (dataplane/detach.ts; reconciliation finishes that after a crash). Unknown
 * endpoints are success (Docker sends this for stale endpoints at start):
 * only a port and veth marked as theirs, left by a create whose record was
 * never saved, are removed. An endpoint of another network is refused.
 */
export async function deleteEndpoint(ctx: DriverContext, networkId: string, endpointId: string): Promise<void> {
  await ctx.locks.run(networkId, async () => {
    const ep = endpointOf(ctx, networkId, endpointId);
    // a DHCP endpoint: its renewal client stopped if Leave did not (bounded), the MAC's address remembered with the removal (one save)
    const net = ep?.dhcp ? ctx.state.network(networkId) : undefined;
    if (ep?.dhcp) await ctx.renewals.stop(ep.id, false).catch((err: unknown) => ctx.log.warn({ err, endpoint: shortId(ep.id) }, 'dhcp renewal client not stopped'));
    const remembered = net && ep ? rememberMac(net, ep) : undefined;
    if (ep) await Promise.all([ctx.state.removeEndpoint(ep.id), ...(remembered ? [ctx.state.putNetwork(remembered)] : [])]);
    ctx.plane.detachLater(ep ?? unknownEndpoint(networkId, endpointId), ep !== undefined);
    ctx.log.info({ network: shortId(networkId), endpoint: shortId(endpointId), known: Boolean(ep) }, 'endpoint deleted');
  });
}
