// The daemon's Prometheus metrics (prom-client, on a registry of its own).
// Counters and histograms are bumped where things happen: a Docker call
// answered (server.ts), a reconciliation run, action or failed step
// (reconcile.ts), a state save (the store, wrapped here), an OVSDB reconnect
// (the client's own 'connected' event). Gauges are computed from the state at
// scrape time, so nothing has to keep them in step. prom-client's default
// process and Node.js metrics (process_*, nodejs_*) keep their usual names.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Mode } from '../model.js';
import { poolFree } from '../ipam/ipam.js';
import { shortId } from '../names.js';
import type { RequestObserver } from '../protocol/server.js';
import type { ReconcileObserver } from '../reconcile/reconcile.js';
import type { PoolRecord } from '../store/records.js';
import type { StateCache } from '../store/state.js';
import type { Store } from '../store/store.js';

/** The OVSDB client as the metrics see it. */
export interface OvsdbLink {
  readonly isConnected: boolean;
  on(event: 'connected', listener: () => void): unknown;
}

/** What the gauges and the health check read, at scrape time. */
export interface MetricSources {
  readonly state: Pick<StateCache, 'loaded' | 'networks' | 'endpoints' | 'pools'>;
  readonly ovsdb: OvsdbLink;
}

/** Docker calls are fast (a few ms) but may wait behind a reconciliation for seconds. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A save is a journal append and an fdatasync: sub-millisecond on tmpfs, tens of ms on a busy disk. */
const SAVE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export class Metrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'call' | 'outcome'>;
  readonly #requestSeconds: Histogram<'call'>;
  readonly #reconcileRuns: Counter<'outcome'>;
  readonly #reconcileActions: Counter<'rule'>;
  readonly #reconcileFailures: Counter;
  readonly #reconnects: Counter;
  readonly #saveSeconds: Histogram;
  #sources: MetricSources | undefined;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#requests = new Counter({ name: 'ovsvlan_requests_total', registers, labelNames: ['call', 'outcome'] as const,
      help: 'Docker plugin calls answered, by call (e.g. NetworkDriver.Join) and outcome (ok: HTTP 200, error: anything else)' });
    this.#requestSeconds = new Histogram({ name: 'ovsvlan_request_duration_seconds', registers, labelNames: ['call'] as const,
      buckets: REQUEST_BUCKETS, help: 'Time from a Docker call received to its answer sent, by call' });
    this.#reconcileRuns = new Counter({ name: 'ovsvlan_reconcile_runs_total', registers, labelNames: ['outcome'] as const,
      help: 'Reconciliation runs, by outcome (error: a step failed or OVS could not be read; retried with backoff)' });
    this.#reconcileActions = new Counter({ name: 'ovsvlan_reconcile_actions_total', registers, labelNames: ['rule'] as const,
      help: 'Repairs made by reconciliation, by rule (bridge-missing, port-missing, endpoint-gone, …)' });
    this.#reconcileFailures = new Counter({ name: 'ovsvlan_reconcile_failures_total', registers,
      help: 'Reconciliation steps (one network, endpoint or port each) that failed' });
    this.#reconnects = new Counter({ name: 'ovsvlan_ovsdb_reconnects_total', registers,
      help: 'OVSDB sessions established after the first one (OVS restarted, socket lost)' });
    this.#saveSeconds = new Histogram({ name: 'ovsvlan_state_save_duration_seconds', registers, buckets: SAVE_BUCKETS,
      help: 'Time to save a batch of changes durably (one journal line appended and fdatasynced)' });
    this.#gauges(registers);
  }

  /** The gauges and the health check read these from now on; OVSDB connections after the first count as reconnects. */
  watch(sources: MetricSources): void {
    this.#sources = sources;
    let connections = sources.ovsdb.isConnected ? 1 : 0;
    sources.ovsdb.on('connected', () => {
      if (++connections > 1) this.#reconnects.inc();
    });
  }

  /** For startServer(): one counter increment and one histogram observation per answered call. */
  readonly request: RequestObserver = (call, outcome, seconds) => {
    this.#requests.inc({ call, outcome });
    this.#requestSeconds.observe({ call }, seconds);
  };

  /** For the reconciliation context. */
  readonly reconcile: ReconcileObserver = {
    run: (outcome) => this.#reconcileRuns.inc({ outcome }),
    action: (rule) => this.#reconcileActions.inc({ rule }),
    failure: () => this.#reconcileFailures.inc(),
  };

  /** `store`, with each save (a journal append) timed, failed ones too. */
  timeSaves(store: Store): Store {
    return {
      load: () => store.load(),
      append: async (changes) => {
        const end = this.#saveSeconds.startTimer();
        try {
          return await store.append(changes);
        } finally {
          end();
        }
      },
      maybeCompact: (state) => store.maybeCompact(state),
    };
  }

  /** Why the daemon is not healthy (for /healthz), or undefined when OVSDB is connected and the state loaded. */
  unhealthy(): string | undefined {
    if (!this.#sources?.state.loaded) return 'state not loaded';
    if (!this.#sources.ovsdb.isConnected) return 'OVSDB not connected';
    return undefined;
  }

  /** Gauges computed from the sources at each scrape; without sources they report nothing. */
  #gauges(registers: Registry[]): void {
    const sources = (): MetricSources | undefined => (this.#sources?.state.loaded ? this.#sources : undefined);
    new Gauge({ name: 'ovsvlan_networks', registers, labelNames: ['mode'] as const,
      help: 'Networks ovsvlan holds, by mode (vlan, vxlan, gre)',
      collect() {
        const s = sources();
        if (!s) return;
        const byMode: Record<Mode, number> = { vlan: 0, vxlan: 0, gre: 0 };
        for (const n of s.state.networks()) byMode[n.mode]++;
        for (const [mode, count] of Object.entries(byMode)) this.set({ mode }, count);
      } });
    new Gauge({ name: 'ovsvlan_endpoints', registers, help: 'Container endpoints ovsvlan holds',
      collect() {
        const s = sources();
        if (s) this.set(s.state.endpoints().length);
      } });
    new Gauge({ name: 'ovsvlan_ovsdb_connected', registers, help: '1 while the OVSDB session is up',
      collect() {
        const s = sources();
        if (s) this.set(s.ovsdb.isConnected ? 1 : 0);
      } });
    // labelled by subnet and network: one subnet may serve several VLANs, each its own pool
    const poolGauge = (name: string, help: string, value: (p: PoolRecord) => number): void => {
      new Gauge({ name, help, registers, labelNames: ['pool', 'network'] as const,
        collect() {
          this.reset();
          for (const p of sources()?.state.pools() ?? []) {
            // inc, not set: two unbound pools of one subnet (a moment during network create) add up
            this.inc({ pool: p.pool, network: p.networkId ? shortId(p.networkId) : '' }, value(p));
          }
        } });
    };
    poolGauge('ovsvlan_pool_addresses_in_use', 'Addresses leased in an IPAM pool (gateway, aux, containers), by subnet and network (short ID; empty while unbound)',
      (p) => Object.keys(p.leases).length);
    poolGauge('ovsvlan_pool_addresses_free', 'Addresses still to hand out in an IPAM pool (its --ip-range, or its subnet); a float: approximate beyond 2^53 (IPv6)',
      (p) => Number(poolFree(p)));
  }
}
