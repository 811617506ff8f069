// Making and reaping spares (spares.ts keeps the pool). A spare is made like
// an endpoint's pair, before any endpoint exists: both ends at the network's
// MTU, the container end's tx offload off on a netdev bridge, the host end
// hardened, then every host end of the batch attached in ONE OVSDB
// transaction that waits for ovs-vswitchd: tagged with the network's VLAN
// (never untagged: an untagged port on a VLAN bridge would trunk every
// VLAN), marked `ovsvlan-role=spare` with its network. Both ends carry the
// alias `ovsvlan-spare=<network>` until one is handed out.
import { hardenHostEnd } from '../link/harden.js';
import { createVethPair, deleteLink, disableTxOffload, getLink } from '../link/links.js';
import { shortId, spareExternalIds, spareMark, spareVethNames } from '../names.js';
import type { NetworkRecord } from '../store/records.js';
import type { DataplaneContext } from './context.js';
import type { Spare } from './spares.js';

/**
 * Makes `count` spares of the network and attaches them in one transaction.
 * Resolves to those made; on a failure (a link, or ovs-vswitchd not applying
 * the transaction in time), every spare this call made is taken away again,
 * its port too (the transaction may be committed), and the error is thrown:
 * no half-made spare stays (reconciliation reaps what a crash leaves).
 */
export async function makeSpares(ctx: DataplaneContext, net: NetworkRecord, count: number): Promise<Spare[]> {
  const made: Spare[] = [];
  // the pairs are made side by side (the netlink socket keeps up to 16 requests in flight): a batch of 64 costs little more than one
  const makeOne = async (): Promise<void> => {
    const names = spareVethNames();
    if (!(await createVethPair(names.host, names.container, net.mtu, spareMark(net.id)))) return; // a name taken: 48 random bits, never mind
    made.push({ ...names, networkId: net.id });
    if (net.datapath === 'netdev') await disableTxOffload(names.container);
    await hardenHostEnd(names.host, net.datapath, true);
  };
  try {
    const results = await Promise.allSettled(Array.from({ length: count }, makeOne));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (made.length === 0) return made;
    await ctx.vswitch.attachPorts(made.map((s) => ({ bridge: net.bridge, name: s.host, tag: net.vlan, externalIds: spareExternalIds(net.id) })));
    return made;
  } catch (err) {
    await reapSpares(ctx, made, false);
    throw err;
  }
}

/**
 * Takes spares away: their ports (marked as spares: a port handed out and
 * re-marked since is left alone) in one transaction, then their veths
 * (only those still marked as spares of their network). `wait`: whether to
 * wait for ovs-vswitchd (DeleteNetwork does, before it deletes the bridge).
 * Failures are logged: reconciliation reaps what is left.
 */
export async function reapSpares(ctx: DataplaneContext, spares: readonly Spare[], wait = true): Promise<void> {
  if (spares.length === 0) return;
  try {
    await ctx.vswitch.detachPorts(spares.map((s) => ({ name: s.host, marks: spareExternalIds(s.networkId) })), { wait });
  } catch (err) {
    ctx.log.error({ err, spares: spares.length }, `removing spare ports failed: ${(err as Error).message}; reconciliation will finish it`);
  }
  for (const s of spares) {
    try {
      await deleteSpareLink(s.host, s.networkId);
      await deleteSpareLink(s.container, s.networkId);
    } catch (err) {
      ctx.log.error({ err, network: shortId(s.networkId), port: s.host }, 'removing a spare veth failed; reconciliation will finish it');
    }
  }
}

/** Deletes a link if it is still marked as a spare of the network; false when it is gone or another's. */
export async function deleteSpareLink(name: string, networkId: string): Promise<boolean> {
  const link = await getLink(name);
  if (link?.alias !== spareMark(networkId)) return false;
  return deleteLink(name);
}
