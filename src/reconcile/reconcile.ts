// Reconciliation: make OVS and the kernel match the records, and the records
// match what still exists. Runs alone (no request in flight) at start, after
// every OVSDB reconnect (OVS restarted, maybe with an empty database), on
// SIGHUP, and every few minutes. Each action is logged with the rule that made it:
//   bridge-missing      a network's bridge is gone from OVS → re-create it
//   infra-missing       a tunnel port, the uplink or the host port is gone or wrong → re-make it
//   port-missing        a live endpoint's port is gone or wrong → re-attach with its tag
//   host-end-exposed    a live endpoint's host end lacks NOARP, IPv6 off or (netdev) its drop filter → harden it (link/harden.ts)
//   endpoint-gone       an endpoint's veth is gone (its container died) → drop the record
//   endpoint-orphan     Docker no longer lists the endpoint, or its container end is back in the host
//                       namespace (both only when older than the grace) → remove port, veth, record
//   network-gone        Docker no longer has the network → remove its endpoints, record, pools, our bridge
//   port-orphan         an OVS port of ours belongs to no endpoint or network → remove it (and its veth)
//   link-orphan         a veth named like ours belongs to no endpoint → delete it
//   bridge-orphan       a bridge ovsvlan made that no network uses and that holds nothing else → delete it
//   lease-orphan        a lease of an endpoint that no longer exists → free it
//   lease-leaked        a lease no endpoint claimed, that Docker does not use (older than the grace) → free it
//   pool-orphan         a pool of a network that no longer exists → free it
//   pool-unbound        a pool no network took, older than the grace, whose subnet no Docker network uses → free it
import type { DriverContext } from '../driver/context.js';
import { removeEndpoint, wireEndpoint } from '../driver/endpoint.js';
import { applyInfra, dropUplink } from '../driver/infra.js';
import { hasMarks, isOurLinkName, NETWORK_KEY, portExternalIds, ROLE_KEY, shortId } from '../names.js';
import { deleteBridgeIfUnused, removeNetwork } from '../driver/network.js';
import { deleteLink, listLinks } from '../link/links.js';
import { hardenHostEnd, unhardenedHostEnds } from '../link/harden.js';
import { changedPool, type PoolRecord } from '../store/records.js';
import type { DockerReader, DockerView } from './docker.js';
import { isOrphanLink, isWantedPort, wantedPorts } from './wanted.js';

export interface ReconcileContext extends DriverContext {
  readonly docker: DockerReader;
  readonly graceMs: number;
  /** Told of each run's outcome, each action and each failed step (the metrics). */
  readonly observer?: ReconcileObserver;
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
  await reconcileNetworks(ctx, view, act);
  await reconcileEndpoints(ctx, view, act);
  await removeOrphans(ctx, act);
  await reconcileLeases(ctx, view, act);
  log.info({ actions, failures: failures.length, dockerView: Boolean(view), networks: ctx.state.networks().length,
    endpoints: ctx.state.endpoints().length }, 'reconciled');
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} reconcile step(s) failed: ${(failures[0] as Error).message}`);
  return { actions, dockerView: Boolean(view) };
}

interface Act {
  (rule: string, fields: Record<string, unknown>): void;
  /** Runs one item's work; a failure is logged and counted, and the run goes on. */
  guard: (fields: Record<string, unknown>, fn: () => Promise<void>) => Promise<void>;
}

async function reconcileNetworks(ctx: ReconcileContext, view: DockerView | undefined, act: Act): Promise<void> {
  for (const net of ctx.state.networks()) {
    await act.guard({ network: shortId(net.id) }, async () => {
      if (view?.networks.get(net.id) === null) {
        act('network-gone', { network: shortId(net.id), bridge: net.bridge, vlan: net.vlan });
        await removeNetwork(ctx, net);
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

async function reconcileEndpoints(ctx: ReconcileContext, view: DockerView | undefined, act: Act): Promise<void> {
  const ports = new Map((await ctx.vswitch.listOwnedPorts()).map((p) => [p.name, p]));
  // one `ip link` for all endpoints; each iteration only changes its own endpoint's links
  const links = new Set((await listLinks()).map((l) => l.name));
  // likewise one `ip` and one `tc` for the host ends that lack their hardening
  const exposed = await unhardenedHostEnds(ctx.state.endpoints().flatMap((ep) => {
    const net = ctx.state.network(ep.networkId);
    return net && links.has(ep.hostIf) ? [{ name: ep.hostIf, datapath: net.datapath }] : [];
  }));
  for (const ep of ctx.state.endpoints()) {
    const fields = { endpoint: shortId(ep.id), network: shortId(ep.networkId), port: ep.hostIf };
    await act.guard(fields, async () => {
      const net = ctx.state.network(ep.networkId);
      const listed = view?.networks.get(ep.networkId)?.some((d) => d.endpointId === ep.id);
      const old = Date.now() - (ep.createdAt ?? 0) > ctx.graceMs;
      const leftContainer = old && links.has(ep.containerIf);
      if (!net || (view && listed === false && old) || leftContainer) {
        act('endpoint-orphan', fields);
        await removeEndpoint(ctx, ep);
      } else if (!links.has(ep.hostIf)) {
        act('endpoint-gone', fields);
        await ctx.vswitch.detachPort(ep.hostIf, portExternalIds(ep.networkId, ep.id));
        await ctx.state.removeEndpoint(ep.id);
      } else {
        const marks = portExternalIds(net.id, ep.id);
        const port = ports.get(ep.hostIf);
        const mine = port !== undefined && hasMarks(port.externalIds, marks);
        if (!mine || port?.bridge !== net.bridge || port.tag !== net.vlan) {
          act('port-missing', { ...fields, bridge: net.bridge, vlan: net.vlan });
          // its own port on another bridge is moved back; a port of that name that is another's is refused
          if (mine && port?.bridge !== net.bridge) await ctx.vswitch.detachPort(ep.hostIf, marks);
          await wireEndpoint(ctx, net, ep);
        } else if (exposed.has(ep.hostIf)) {
          act('host-end-exposed', { ...fields, datapath: net.datapath });
          await hardenHostEnd(ep.hostIf, net.datapath);
        }
      }
    });
  }
}

async function removeOrphans(ctx: ReconcileContext, act: Act): Promise<void> {
  const known = new Set(ctx.state.endpoints().flatMap((e) => [e.hostIf, e.containerIf]));
  const wanted = wantedPorts(ctx.state.networks(), ctx.state.endpoints());
  for (const port of await ctx.vswitch.listOwnedPorts()) {
    if (isWantedPort(wanted, port)) continue;
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
      if (await deleteBridgeIfUnused(ctx, bridge)) act('bridge-orphan', { bridge });
    });
  }
  for (const link of await listLinks()) {
    if (!isOrphanLink(link, ctx.state.endpoints())) continue;
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
    if (!pool.networkId && view && !view.subnets.has(pool.pool) && Date.now() - pool.createdAt > ctx.graceMs) {
      act('pool-unbound', { pool: pool.id });
      await ctx.state.removePool(pool.id);
      continue;
    }
    const freed = freeLeases(ctx, pool, view, act);
    if (freed.length > 0) await ctx.state.putPool(changedPool(pool, Object.fromEntries(freed.map((a) => [a, undefined]))));
  }
}

/**
 * The leases of endpoints that are gone, to be freed (stored pools are never edited in place).
 * An address any container of any ovsvlan network still has is never freed:
 * networks sharing a subnet created at the same instant may have been bound
 * to each other's pools (Docker does not say which pool a network uses).
 */
function freeLeases(ctx: ReconcileContext, pool: PoolRecord, view: DockerView | undefined, act: Act): string[] {
  const inDocker = view ? new Set([...view.networks.values()].flatMap((eps) => eps ?? []).flatMap((d) => d.addresses)) : undefined;
  const freed: string[] = [];
  for (const [address, lease] of Object.entries(pool.leases)) {
    const orphan = lease.kind === 'endpoint' && !ctx.state.endpoint(lease.endpointId ?? '') && !inDocker?.has(address);
    const leaked = lease.kind === 'pending' && pool.networkId !== undefined && inDocker !== undefined && !inDocker.has(address)
      && Date.now() - lease.at > ctx.graceMs;
    if (!orphan && !leaked) continue;
    act(orphan ? 'lease-orphan' : 'lease-leaked', { pool: pool.id, address, endpoint: shortId(lease.endpointId ?? '') });
    freed.push(address);
  }
  return freed;
}

