// What the operator commands read, each source on its own and bounded in
// time: the records (state.json and state.journal, read only), OVS (one snapshot), the kernel's
// links, Docker's names for the endpoints and, in cluster mode, etcd. A source that cannot be read is
// reported as such; the others are still shown.
import { access } from 'node:fs/promises';
import { pino } from 'pino';
import type { Config } from '../config.js';
import type { ClusterSettings, ClusterStatus } from '../cluster/types.js';
import { listLinks, type LinkInfo } from '../link/links.js';
import { OvsdbClient } from '../ovsdb/client.js';
import { DockerReader, type DockerView } from '../reconcile/docker.js';
import { readSavedState } from '../store/journal.js';
import { emptyState, type State } from '../store/records.js';
import { readInventory, type Inventory } from '../vswitch/inventory.js';

export const OVSDB_TIMEOUT_MS = 3_000;

/** A value, or why it could not be read. */
export type Read<T> = { ok: true; value: T } | { ok: false; error: string };

export interface Facts {
  state: Read<State>;
  ovs: Read<Inventory>;
  links: Read<LinkInfo[]>;
  /** endpoint ID → container name; undefined when Docker is not configured or does not answer */
  containers: Map<string, string> | undefined;
  /** network ID → Docker's name for it; undefined likewise */
  networkNames?: Map<string, string> | undefined;
  /** Docker's view of the recorded networks, as reconciliation reads it; undefined likewise */
  dockerView?: DockerView | undefined;
  /** where Docker was asked (OVSVLAN_DOCKER; empty: it was not) */
  dockerEndpoint?: string;
  /** this host's id and the cluster as etcd has it; undefined outside cluster mode */
  cluster: { hostId: string; status: Read<ClusterStatus> } | undefined;
}

export async function gatherFacts(config: Config): Promise<Facts> {
  // OVS and the kernel first, the records after: a change in flight (the daemon makes a
  // port, then saves its record) then shows up as drift of the first read only
  const settings = config.cluster;
  const docker = new DockerReader(config.docker);
  const [ovs, links, containers, networkNames, cluster] = await Promise.all([
    attempt(() => readOvs(config.ovsdb)),
    attempt(() => listLinks()),
    docker.containerNames(),
    docker.networkNames(),
    settings ? attempt(() => readCluster(settings)).then((status) => ({ hostId: settings.hostId, status })) : undefined,
  ]);
  const state = await attempt(() => readState(config.stateDir));
  // records unread: no network to ask about, but whether Docker answers is still known
  const dockerView = await docker.view(state.ok ? Object.keys(state.value.networks) : []);
  return { state, ovs, links, containers, networkNames, dockerView, dockerEndpoint: config.docker, cluster };
}

/**
 * The cluster's hosts and shared networks through a short-lived etcd session
 * (rejects with "etcd unreachable: …"). The etcd modules are imported here, in
 * cluster mode only: etcd3 and gRPC never load for a local-mode `ovsvlan status`.
 */
async function readCluster(settings: ClusterSettings): Promise<ClusterStatus> {
  const [{ openEtcdKv }, { Keys }, { readClusterStatus }] = await Promise.all([
    import('../cluster/etcd-kv.js'), import('../cluster/keys.js'), import('../cluster/status.js'),
  ]);
  const kv = await openEtcdKv(settings);
  try {
    return await readClusterStatus(kv, new Keys(settings.prefix));
  } finally {
    await kv.close().catch(() => undefined);
  }
}

/** Runs a read; a failure becomes its message. */
export async function attempt<T>(fn: () => Promise<T>): Promise<Read<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** The records as the daemon last saved them; an empty state where none was ever written (nothing is created). */
async function readState(dir: string): Promise<State> {
  try {
    await access(dir);
  } catch {
    return emptyState();
  }
  return readSavedState(dir); // the snapshot and the journal after it, read only
}

/**
 * One snapshot of OVS through a short-lived OVSDB session; fails with a
 * message naming the endpoint. The client retries a failed connection until
 * the time is up; the message then says why the last attempt failed
 * (`connect ENOENT …`: nothing listens there).
 */
export async function readOvs(endpoint: string): Promise<Inventory> {
  let lastError: string | undefined;
  // the client logs each failed attempt (a warning with its err): only the last one's cause is kept
  const serializers = { err: (e: Error) => ({ message: e.cause instanceof Error ? e.cause.message : e.message }) };
  const logger = pino({ level: 'warn', serializers }, { write: (line: string) => {
    const err = (JSON.parse(line) as { err?: { message?: unknown } }).err?.message;
    if (typeof err === 'string') lastError = err;
  } });
  const client = new OvsdbClient({ endpoint, logger, requestTimeoutMs: OVSDB_TIMEOUT_MS });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${OVSDB_TIMEOUT_MS / 1000} s${lastError ? ` (last attempt: ${lastError})` : ''}`)),
          OVSDB_TIMEOUT_MS);
      }),
    ]);
    return await readInventory(client);
  } catch (err) {
    throw new Error(`OVSDB at ${endpoint}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
    await client.close().catch(() => undefined);
  }
}
