// Reconciliation: make OVS and the kernel match the records, and the records
// match what still exists. Runs alone (no request in flight) at start, after
// every OVSDB reconnect (OVS restarted, maybe with an empty database), on
// SIGHUP, and every few minutes. Each action is logged with the rule that made it:
//   bridge-missing      a network's bridge is gone from OVS → re-create it
//   infra-missing       a tunnel port, the uplink or the host port is gone or wrong → re-make it
//   port-missing        a live endpoint's port is gone or wrong → re-attach with its tag
//   port-remark         a live endpoint's port or veth still carries the marks of the spare it was → mark it as the endpoint's
//   host-end-exposed    a live endpoint's host end lacks NOARP, IPv6 off or (netdev) its drop filter → harden it (link/harden.ts)
//   endpoint-gone       an endpoint's veth is gone (its container died) → drop the record
//   endpoint-orphan     its network has no record; Docker no longer lists the endpoint, or its container
//                       end is back in the host namespace (both only when older than the grace)
//                       → remove port, veth, record
//   network-gone        Docker no longer has the network → remove its endpoints, record, pools, our bridge
//   (endpoint-orphan and network-gone are judged in gone.ts, which `ovsvlan status` uses too)
//   (a whole spare of a live network that the pool does not hold, after a restart, is taken into it: no action)
//   spare-orphan        a spare of a gone network, on the wrong bridge or tag, or beyond the pool's size → reap it
//   spare-gone          a spare whose veth or port is gone → remove what is left of it (refilled afterwards)
//   spare-exposed       a spare of the pool whose host end lacks part of its hardening → harden it (it is handed out as it is)
//   port-orphan         an OVS port of ours belongs to no endpoint, spare or network → remove it (and its veth)
//   link-orphan         a veth named like ours belongs to no endpoint → delete it
//   bridge-orphan       a bridge ovsvlan made that no network uses and that holds nothing else → delete it
//   lease-orphan        a lease of an endpoint that no longer exists → free it
//   lease-leaked        a lease no endpoint claimed, that Docker does not use (older than the grace) → free it
//   host-lease-missing  a network's host_ip in its ovsvlan pool has no lease (made by an older ovsvlan) → lease it to the host
//   host-ip-taken       a container holds the network's host_ip in its pool → reported, left alone
//   pool-orphan         a pool of a network that no longer exists → free it
//   pool-unbound        a pool no network took, older than the grace, whose subnet no Docker network uses → free it
//   dhcp-*              DHCP networks' renewal clients and parked leases (dhcp.ts)
import type { DataplaneContext } from '../dataplane/context.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import { applyInfra, dropUplink } from '../dataplane/infra.js';
import { isSparePort } from '../dataplane/owned.js';
import { hasMarks, isOurLinkName, linkMark, NETWORK_KEY, portExternalIds, ROLE_KEY, shortId, spareExternalIds, spareMark } from '../names.js';
import { deleteLink, setAlias } from '../link/links.js';
import { hardenHostEnd, unhardenedHostEnds } from '../link/harden.js';
import { ensureHostLease, freeStaleLeases } from '../ipam/bind.js';
import type { DockerReader, DockerView } from './docker.js';
import { endpointOrphan, networkGone } from './gone.js';
import { Look } from './look.js';
import { reconcileSpares } from './spares.js';
import { reconcileDhcp } from './dhcp.js';
import type { DhcpRenewals } from '../driver/dhcp-renewal.js';
import type { ParkedReleases } from './dhcp-release.js';
import { isMeshTunnel, isOrphanLink, isWantedPort, meshBridges, recordedLinks, wantedPorts } from './wanted.js';

export interface ReconcileContext extends DataplaneContext {
  readonly plane: Dataplane;
  readonly docker: DockerReader;
  readonly graceMs: number;
  /** Told of each run's outcome, each action and each failed step (the metrics). */
  readonly observer?: ReconcileObserver;
  /** DHCP networks' renewal clients (issue 12): adopted, restarted or stopped by each run */
  readonly renewals?: DhcpRenewals;
  /** DHCP networks with dhcp_release=remove: parked leases given back once their container is removed */
  readonly releases?: ParkedReleases;
}

export interface ReconcileObserver {
  /** A run ended: `error` when it threw (a step failed, or OVS could not be read). */
  run(outcome: 'ok' | 'error'): void;
  action(rule: string): void;
  /** One item's step failed; the run went on. */
  failure(): void;
}

export interface ReconcileReport {
  actions: number;
  dockerView: boolean;
  /**
   * When the grace of something this run left alone only because it was
   * young ends (a lease handed out but never claimed, an endpoint Docker does
   * not list): the scheduler runs again then, so that what a crash left is
   * gone within the grace, not at the next periodic run.
   */
  recheckAt: number | undefined;
}

/**
 * Runs alone (no request in flight). Docker's view is read before taking the
 * lock, so a slow dockerd never holds requests back; what changes meanwhile is
 * young, and the rules that use the view leave young things alone.
 */
export async function reconcile(ctx: ReconcileContext, reason: string): Promise<ReconcileReport> {
  const view = await ctx.docker.view(ctx.state.networks().map((n) => n.id));
  return ctx.locks.exclusive(() => reconcileLocked(ctx, reason, view));
}

/** The work of reconcile(), for a caller that already holds the exclusive section. */
export async function reconcileLocked(ctx: ReconcileContext, reason: string, view: DockerView | undefined): Promise<ReconcileReport> {
  try {
    const report = await runRules(ctx, reason, view);
    ctx.observer?.run('ok');
    return report;
  } catch (err) {
    ctx.observer?.run('error');
    throw err;
  }
}

async function runRules(ctx: ReconcileContext, reason: string, view: DockerView | undefined): Promise<ReconcileReport> {
  const log = ctx.log.child({ reconcile: reason });
  let actions = 0;
  const failures: unknown[] = [];
  const act: Act = (rule, fields) => {
    actions++;
    ctx.observer?.action(rule);
    log.warn({ rule, ...fields }, `reconcile: ${rule}`);
  };
  // one item's failure (a link gone mid-way, OVS refusing a row) must not keep the others broken
  act.guard = async (fields, fn) => {
    try {
      await fn();
    } catch (err) {
      failures.push(err);
      ctx.observer?.failure();
      log.error({ err, ...fields }, `reconcile step failed: ${(err as Error).message}`);
    }
  };
  const look = new Look(ctx.vswitch, () => actions + failures.length);
  let recheckAt: number | undefined;
  act.youngUntil = (at) => {
    recheckAt = recheckAt === undefined ? at : Math.min(recheckAt, at);
  };
  // how long each step took (ms), logged with the result: where a slow start spends its time
  const took: Record<string, number> = {};
  const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const t0 = performance.now();
    await fn();
    took[name] = Math.round(performance.now() - t0);
  };
  await step('detached', () => ctx.plane.detached()); // DeleteEndpoints answered a moment ago finish first
  await step('networks', () => reconcileNetworks(ctx, view, act));
  await step('endpoints', () => reconcileEndpoints(ctx, view, act, look));
  await step('spares', () => reconcileSpares(ctx, act, look));
  await step('orphans', () => removeOrphans(ctx, act, look));
  await step('leases', () => reconcileLeases(ctx, view, act));
  await step('dhcp', () => reconcileDhcp(ctx.state, ctx.renewals, ctx.releases, view, act));
  log.info({ actions, failures: failures.length, dockerView: Boolean(view), networks: ctx.state.networks().length,
    endpoints: ctx.state.endpoints().length, tookMs: took }, 'reconciled');
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} reconcile step(s) failed: ${(failures[0] as Error).message}`);
  return { actions, dockerView: Boolean(view), recheckAt };
}

export interface Act {
  (rule: string, fields: Record<string, unknown>): void;
  /** Runs one item's work; a failure is logged and counted, and the run goes on. */
  guard: (fields: Record<string, unknown>, fn: () => Promise<void>) => Promise<void>;
  /** An item a rule would act on once it is older than the grace: the time it will be (ReconcileReport.recheckAt). */
  youngUntil: (at: number) => void;
}

async function reconcileNetworks(ctx: ReconcileContext, view: DockerView | undefined, act: Act): Promise<void> {
  for (const net of ctx.state.networks()) {
    await act.guard({ network: shortId(net.id) }, async () => {
      if (networkGone(net.id, view)) {
        act('network-gone', { network: shortId(net.id), bridge: net.bridge, vlan: net.vlan });
        await ctx.plane.removeNetwork(net);
        for (const p of ctx.state.pools().filter((x) => x.networkId === net.id)) await ctx.state.removePool(p.id);
        return;
      }
      const { created } = await ctx.vswitch.ensureBridge(net.bridge, net.datapath);
      if (created) act('bridge-missing', { network: shortId(net.id), bridge: net.bridge });
      const made = await applyInfra(ctx, net, true);
      if (made.length > 0) act('infra-missing', { network: shortId(net.id), bridge: net.bridge, ports: made });
    });
  }
}

async function reconcileEndpoints(ctx: ReconcileContext, view: DockerView | undefined, act: Act, look: Look): Promise<void> {
  const ports = new Map((await look.ports()).map((p) => [p.name, p]));
  // one link dump for all endpoints; each iteration only changes its own endpoint's links
  const links = await look.links();
  // the same links, and a filter dump per netdev end, for the host ends that lack their hardening (link/harden.ts)
  // a failed look is one failed step: the endpoints' other rules, spares and orphans still run
  let exposed = new Set<string>();
  await act.guard({ rule: 'host-end-exposed' }, async () => {
    exposed = await unhardenedHostEnds(ctx.state.endpoints().flatMap((ep) => {
      const net = ctx.state.network(ep.networkId);
      return net && links.has(ep.hostIf) ? [{ name: ep.hostIf, datapath: net.datapath }] : [];
    }), links);
  });
  for (const ep of ctx.state.endpoints()) {
    const fields = { endpoint: shortId(ep.id), network: shortId(ep.networkId), port: ep.hostIf };
    await act.guard(fields, async () => {
      const net = ctx.state.network(ep.networkId);
      const verdict = endpointOrphan(ep, { networkRecorded: net !== undefined, view, links, now: Date.now(), graceMs: ctx.graceMs });
      if (!verdict.orphan && verdict.youngUntil !== undefined) act.youngUntil(verdict.youngUntil);
      if (verdict.orphan || !net) { // (no net is an orphan already: the type does not know it)
        act('endpoint-orphan', { ...fields, why: verdict.orphan ? verdict.why : undefined });
        await ctx.plane.removeEndpoint(ep);
      } else if (!links.has(ep.hostIf)) {
        act('endpoint-gone', fields);
        await ctx.vswitch.detachPort(ep.hostIf, portExternalIds(ep.networkId, ep.id));
        await ctx.state.removeEndpoint(ep.id);
      } else {
        const marks = portExternalIds(net.id, ep.id);
        const port = ports.get(ep.hostIf);
        const spareMarked = port !== undefined && hasMarks(port.externalIds, spareExternalIds(net.id));
        if (spareMarked || links.get(ep.hostIf)?.alias === spareMark(net.id)) {
          // handed out as a spare, the record saved, the re-mark cut short (a crash): the port is the endpoint's already
          act('port-remark', fields);
          if (spareMarked) await ctx.vswitch.remarkPort(ep.hostIf, spareExternalIds(net.id), marks);
          await setAlias(ep.hostIf, linkMark(ep.id));
          if (links.has(ep.containerIf)) await setAlias(ep.containerIf, linkMark(ep.id));
          if (port && spareMarked) ports.set(ep.hostIf, { ...port, externalIds: marks });
        }
        const now = ports.get(ep.hostIf);
        const mine = now !== undefined && hasMarks(now.externalIds, marks);
        if (!mine || now?.bridge !== net.bridge || now.tag !== net.vlan) {
          act('port-missing', { ...fields, bridge: net.bridge, vlan: net.vlan });
          // its own port on another bridge is moved back; a port of that name that is another's is refused
          if (mine && now?.bridge !== net.bridge) await ctx.vswitch.detachPort(ep.hostIf, marks);
          await ctx.plane.wireEndpoint(net, ep);
        } else if (exposed.has(ep.hostIf)) {
          act('host-end-exposed', { ...fields, datapath: net.datapath });
          await hardenHostEnd(ep.hostIf, net.datapath);
        }
      }
    });
  }
}

async function removeOrphans(ctx: ReconcileContext, act: Act, look: Look): Promise<void> {
  const known = recordedLinks(ctx.state.endpoints());
  const wanted = wantedPorts(ctx.state.networks(), ctx.state.endpoints());
  const mesh = meshBridges(ctx.state.networks());
  for (const port of await look.ports()) {
    if (isWantedPort(wanted, port) || isSparePort(port) || isMeshTunnel(port, mesh)) continue; // spares are reconcileSpares' own, mesh tunnels the mesh's
    const fields = { port: port.name, bridge: port.bridge, role: port.externalIds[ROLE_KEY], network: shortId(port.externalIds[NETWORK_KEY] ?? '') };
    await act.guard(fields, async () => {
      act('port-orphan', fields);
      if (port.externalIds[ROLE_KEY] === 'uplink') return dropUplink(ctx, port.name);
      await ctx.vswitch.detachPort(port.name, port.externalIds);
      // the port's own link, unless an endpoint's record names it (a port of another's marks took its name)
      if (isOurLinkName(port.name) && !known.has(port.name)) await deleteLink(port.name);
    });
  }
  for (const bridge of await ctx.vswitch.listOwnedBridges()) {
    await act.guard({ bridge }, async () => {
      if (await ctx.plane.deleteBridgeIfUnused(bridge)) act('bridge-orphan', { bridge });
    });
  }
  const live = new Set(ctx.state.networks().map((n) => n.id));
  for (const link of (await look.links()).values()) {
    if (!isOrphanLink(link, known, live)) continue; // the steps above change no record: `known` still holds
    act('link-orphan', { link: link.name });
    await deleteLink(link.name);
  }
}

async function reconcileLeases(ctx: ReconcileContext, view: DockerView | undefined, act: Act): Promise<void> {
  for (const pool of ctx.state.pools()) {
    if (pool.networkId && !ctx.state.network(pool.networkId)) {
      act('pool-orphan', { pool: pool.id, network: shortId(pool.networkId) });
      await ctx.state.removePool(pool.id);
      continue;
    }
    if (!pool.networkId && view && !view.subnets.has(pool.pool)) {
      if (Date.now() - pool.createdAt <= ctx.graceMs) {
        act.youngUntil(pool.createdAt + ctx.graceMs + 1);
      } else {
        act('pool-unbound', { pool: pool.id });
        await ctx.state.removePool(pool.id);
        continue;
      }
    }
    await freeStaleLeases(ctx.state, pool, view, ctx.graceMs, act, act.youngUntil);
    const hostIp = ctx.state.network(pool.networkId ?? '')?.hostIp;
    const now = ctx.state.pool(pool.id); // as freeStaleLeases left it
    if (hostIp && now) await ensureHostLease(ctx.state, now, hostIp, act);
  }
}
