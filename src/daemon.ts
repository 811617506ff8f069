// Composition root: builds the modules in order and starts them.
// start (the socket is already listening, opened by main.ts; requests wait)
//   = load state → serve (requests wait behind the first reconciliation)
//   → connect to OVSDB → reconcile.
// Reconciliation runs again after each OVSDB reconnect, on SIGHUP, every few
// minutes, and with backoff after a failure.
// With OVSVLAN_METRICS, a metrics endpoint is opened once the socket is served.
// With OVSVLAN_ETCD, cluster mode (cluster/cluster.ts, loaded only then) is
// opened after the state is loaded: the driver joins network definitions and
// the IPAM takes shared addresses through it; the tunnel mesh runs after each
// reconciliation (OVSDB reconnects included). It never waits for etcd.
// After the first reconciliation that ran with OVSDB connected (even if one of
// its steps failed: a broken item must not keep containers down), the
// containers dockerd gave up on while ovsvlan was missing are started again,
// in the background (revive.ts): those whose start failed after ovsvlan last
// ran, as its heartbeat in the state directory tells (heartbeat.ts).
// close = cancel that, mark the heartbeat → stop listening → close cluster mode → close OVSDB; the data plane is never touched.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { Dataplane } from './dataplane/dataplane.js';
import { NetworkDriver } from './driver/driver.js';
import { KeyedMutex } from './lock.js';
import type { Metrics } from './metrics/metrics.js';
import { IpamDriver } from './ipam/driver.js';
import { OvsdbClient } from './ovsdb/client.js';
import { routes } from './protocol/routes.js';
import { startServer } from './protocol/server.js';
import type { PluginSocket } from './protocol/socket.js';
import { DockerClient } from './docker/client.js';
import { dockerContainers } from './reconcile/containers.js';
import { DockerReader } from './reconcile/docker.js';
import { Heartbeat } from './reconcile/heartbeat.js';
import { reconcile, reconcileLocked, type ReconcileContext } from './reconcile/reconcile.js';
import { pluginName, Reviver } from './reconcile/revive.js';
import { ReconcileScheduler } from './reconcile/scheduler.js';
import { FileStore } from './store/file-store.js';
import { StateCache } from './store/state.js';
import { resolveDatapath } from './vswitch/datapath.js';
import { Vswitch } from './vswitch/vswitch.js';
import { packageVersion } from './cli/version.js';
import type { ClusterMode } from './cluster/cluster.js';
import { UdhcpcClient } from './dhcp/client.js';
import { DhcpRenewals } from './driver/dhcp-renewal.js';
import { ParkedReleases } from './reconcile/dhcp-release.js';

const RECONCILE_EVERY_MS = 5 * 60_000;
const STARTUP_WAIT_MS = 10_000;

export interface Daemon {
  /** Runs a reconciliation now (SIGHUP). */
  reconcile(reason: string): Promise<void>;
  close(): Promise<void>;
}

export async function startDaemon(config: Config, log: Logger, socket: PluginSocket): Promise<Daemon> {
  // prom-client (+4 MB RSS) is loaded only when metrics are asked for
  const metrics: Metrics | undefined = config.metrics ? new (await import('./metrics/metrics.js')).Metrics() : undefined;
  const storeLog = log.child({ module: 'store' });
  const store = new FileStore(config.stateDir, {
    onCompactionError: (err) => storeLog.warn({ err }, `state journal not compacted (it grows on; tried again later): ${err.message}`),
  });
  const state = new StateCache(metrics ? metrics.timeSaves(store) : store);
  const alive = await Heartbeat.open(config.stateDir, log.child({ module: 'revive' })); // before anything is written there
  await state.load();
  const datapath = await resolveDatapath(config.datapath);
  const locks = new KeyedMutex();

  const ovsdb = new OvsdbClient({ endpoint: config.ovsdb, logger: log.child({ module: 'ovsdb' }) });
  metrics?.watch({ state, ovsdb });
  const vswitch = new Vswitch(ovsdb);
  // etcd3 and gRPC (tens of MB) are loaded only in cluster mode
  const cluster: ClusterMode | undefined = config.cluster && await (await import('./cluster/cluster.js'))
    .openCluster(config.cluster, { state, vswitch, locks, log: log.child({ module: 'cluster' }), version: packageVersion() });
  const plane = { state, vswitch, locks, log: log.child({ module: 'driver' }) };
  const docker = new DockerReader(config.docker);
  // DHCP networks (issue 12): udhcpc's pidfiles and lease files in <state>/dhcp; renewal clients outlive the daemon
  const dhcp = new UdhcpcClient({ dir: join(config.stateDir, 'dhcp'), logger: log.child({ module: 'dhcp' }) });
  await dhcp.sweep(); // before Docker is served: no one-shot client runs, so its report files are a killed daemon's
  const renewals = new DhcpRenewals({ state, locks, dhcp, log: log.child({ module: 'dhcp' }),
    containerOf: config.docker ? (id) => docker.containerOfEndpoint(id) : undefined });
  const dataplane = new Dataplane(plane, { spares: config.spares });
  const ctx: ReconcileContext = {
    ...plane,
    plane: dataplane,
    docker,
    graceMs: config.leaseGraceMs,
    observer: metrics?.reconcile,
    renewals,
    releases: new ParkedReleases({ state, locks, plane: dataplane, dhcp, log: log.child({ module: 'dhcp' }) }),
  };
  const ipam = new IpamDriver({ state, locks, log: log.child({ module: 'ipam' }), defaults: config.defaultPools,
    cluster: cluster && { addresses: cluster.addresses, identOf: (networkId) => state.network(networkId)?.ident } });
  const driver = new NetworkDriver({ ...ctx, ipam, defaultBridge: config.bridge, datapath, cluster, dhcp, renewals });
  const app = await startServer(routes(driver, ipam), log.child({ module: 'http' }), socket, metrics?.request);
  const metricsServer = metrics && await (await import('./metrics/http.js')).openMetrics(config.metrics, metrics, log.child({ module: 'metrics' }));

  const reviver = new Reviver({ api: dockerContainers(DockerClient.of(config.docker)), plugin: pluginName(config.socket), alive,
    networkIds: () => state.networks().map((n) => n.id), log: log.child({ module: 'revive' }) });
  const revive = (): void => {
    if (ovsdb.isConnected) void reviver.start(); // once; later calls are no-ops
  };
  const afterReconcile = (reason: string): void => {
    revive();
    cluster?.kickMesh(`after reconciliation (${reason})`); // OVS may have lost or changed tunnel ports
  };
  const scheduler = new ReconcileScheduler((reason) => reconcile(ctx, reason).finally(() => afterReconcile(reason)), log.child({ module: 'reconcile' }),
    { everyMs: RECONCILE_EVERY_MS, retryMs: { initial: 1_000, max: 30_000 } });
  const runReconcile = (reason: string): Promise<void> => scheduler.trigger(reason);
  let started = false;
  ovsdb.on('connected', () => {
    if (started) void runReconcile('ovsdb-reconnect');
  });
  void locks.exclusive(() => firstReconcile(ctx, ovsdb, () => (started = true), runReconcile, (at) => scheduler.recheckAt(at)))
    .then((ran) => { if (ran) afterReconcile('start'); }) // after the exclusive section: `docker start` calls back into us
    .finally(() => renewals.watchLeases()); // addresses the server changed, logged and recorded

  log.info({ socket: config.socket, ovsdb: config.ovsdb, stateDir: config.stateDir, bridge: config.bridge, datapath, cluster: cluster?.hostId,
    networks: state.networks().length, endpoints: state.endpoints().length, pools: state.pools().length }, 'ovsvlan listening');
  let closing = false;
  // close() ends a connection still being tried: that is no error
  ovsdb.connect().catch((err: unknown) => { if (!closing) log.error({ err }, 'OVSDB connection abandoned'); });

  return {
    reconcile: runReconcile,
    close: async () => {
      closing = true;
      await reviver.close();
      scheduler.close();
      renewals.close(); // the renewal clients keep running: a restarted daemon adopts them
      await metricsServer?.close();
      await app.close();
      await socket.close();
      await ctx.plane.close();
      await cluster?.close();
      await ovsdb.close();
    },
  };
}

/**
 * Holds every request back (it runs inside the exclusive section) until OVSDB
 * answers and the state is reconciled, or for STARTUP_WAIT_MS: a request must
 * not act on stale leases or missing ports. A later connection, or a failure
 * here, is handled by the scheduler. Resolves to whether it ran (OVSDB answered).
 */
async function firstReconcile(ctx: ReconcileContext, ovsdb: OvsdbClient, markStarted: () => void,
  trigger: (reason: string) => Promise<void>, recheckAt: (at: number | undefined) => void): Promise<boolean> {
  const connected = ovsdb.isConnected || await new Promise<boolean>((resolve) => {
    ovsdb.once('connected', () => resolve(true));
    setTimeout(() => resolve(false), STARTUP_WAIT_MS).unref();
  });
  markStarted();
  if (!connected) return false; // the 'connected' listener reconciles once OVSDB answers
  try {
    recheckAt((await reconcileLocked(ctx, 'start', await ctx.docker.view(ctx.state.networks().map((n) => n.id)))).recheckAt);
  } catch (err) {
    // retried outside this exclusive section (a reconciliation inside it would wait for itself)
    ctx.log.error({ err }, `first reconciliation failed: ${(err as Error).message}; retrying`);
    setTimeout(() => void trigger('retry'), 1_000).unref();
  }
  return true;
}
