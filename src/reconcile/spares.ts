// Reconciliation of spares (dataplane/spares.ts): the pool in memory, the
// spare ports in OVS and the spare veths in the kernel made to agree, after a
// restart (the pool is empty: spares found whole are adopted), a crash in the
// middle of a refill or hand-out, or OVS restarted with an empty database
// (the pool's spares lost their ports: reaped, then refilled). A spare port
// that an endpoint's record names is that endpoint's (port-remark, in
// reconcile.ts), never a spare. Ends by asking every live network's pool to
// be topped up (the refill starts once the reconciliation is over).
import { isOurLinkName, CONTAINER_IF_PREFIX, HOST_IF_PREFIX, shortId, spareMark, spareNetworkOf } from '../names.js';
import { deleteLink } from '../link/links.js';
import { hardenHostEnd, unhardenedHostEnds } from '../link/harden.js';
import { isSparePort, spareOf } from '../dataplane/owned.js';
import type { Spare } from '../dataplane/spares.js';
import type { Look } from './look.js';
import { recordedLinks } from './wanted.js';
import type { Act, ReconcileContext } from './reconcile.js';

export async function reconcileSpares(ctx: ReconcileContext, act: Act, look: Look): Promise<void> {
  const found = (await look.ports()).filter(isSparePort).map(spareOf);
  const links = await look.links();
  const recorded = recordedLinks(ctx.state.endpoints());
  const inOvs = new Set(found.map((s) => s.host));
  const fields = (s: Spare): Record<string, unknown> => ({ network: shortId(s.networkId), port: s.host });

  let adopted = 0;
  const lost = ctx.plane.forgetSpares((s) => !inOvs.has(s.host) || !links.has(s.host) || !links.has(s.container));
  const reap: Spare[] = [...lost];
  for (const s of lost) act('spare-gone', fields(s));
  for (const s of found) {
    if (recorded.has(s.host) || ctx.plane.hasSpare(s.host)) continue;
    const net = ctx.state.network(s.networkId);
    const whole = links.get(s.host)?.alias === spareMark(s.networkId) && links.get(s.container)?.alias === spareMark(s.networkId);
    // the pool is memory: taking back a whole spare after a restart is no repair, and not counted as one
    if (net && whole && s.bridge === net.bridge && s.tag === net.vlan && ctx.plane.adoptSpare(s)) {
      adopted++;
      continue;
    }
    act(net && !whole ? 'spare-gone' : 'spare-orphan', { ...fields(s), bridge: s.bridge, tag: s.tag });
    reap.push(s);
  }
  if (adopted > 0) ctx.log.info({ spares: adopted }, 'spares found whole taken into the pool');
  await hardenPooled(ctx, act, found.filter((s) => ctx.plane.hasSpare(s.host)), links);
  await act.guard({ spares: reap.length }, () => ctx.plane.reapSpares(reap));

  // veths marked as spares that no spare of the pool has: a refill cut short before its ports were attached, or a reaped spare's
  for (const link of links.values()) {
    const networkId = spareNetworkOf(link.alias);
    if (networkId === undefined || !isOurLinkName(link.name) || recorded.has(link.name)) continue;
    const host = link.name.startsWith(CONTAINER_IF_PREFIX) ? `${HOST_IF_PREFIX}${link.name.slice(CONTAINER_IF_PREFIX.length)}` : link.name;
    if (ctx.plane.hasSpare(host)) continue;
    await act.guard({ link: link.name }, async () => {
      if (await deleteLink(link.name)) act('spare-gone', { network: shortId(networkId), link: link.name });
    });
  }
  for (const net of ctx.state.networks()) ctx.plane.refill(net.id);
}

/**
 * A spare is handed out as it is, so the pool's spares (adopted or made) keep
 * their host end's hardening (link/harden.ts): one that lost part of it (a
 * write to all.disable_ipv6, a filter removed by hand) gets it back
 * (spare-exposed), as an endpoint's does (host-end-exposed).
 */
async function hardenPooled(ctx: ReconcileContext, act: Act, pooled: readonly Spare[], links: Awaited<ReturnType<Look['links']>>): Promise<void> {
  const ends = pooled.flatMap((s) => {
    const net = ctx.state.network(s.networkId);
    return net && links.has(s.host) ? [{ spare: s, name: s.host, datapath: net.datapath }] : [];
  });
  let exposed = new Set<string>();
  await act.guard({ rule: 'spare-exposed' }, async () => {
    exposed = await unhardenedHostEnds(ends, links);
  });
  for (const end of ends.filter((e) => exposed.has(e.name))) {
    await act.guard({ network: shortId(end.spare.networkId), port: end.name }, async () => {
      act('spare-exposed', { network: shortId(end.spare.networkId), port: end.name, datapath: end.datapath });
      await hardenHostEnd(end.name, end.datapath);
    });
  }
}
