// OVSVLAN_METRICS parsing, and the metrics endpoint on loopback fed by a
// state and an OVSDB link the test controls.
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { openMetrics, serveMetrics } from '../../src/metrics/http.js';
import { parseListenAddress } from '../../src/metrics/listen.js';
import { Metrics, type MetricSources } from '../../src/metrics/metrics.js';
import type { EndpointRecord, NetworkRecord, PoolRecord } from '../../src/store/records.js';
import { sample } from '../helpers/metrics.js';

t.test('OVSVLAN_METRICS: IP:PORT, IPv6 in brackets', async (t) => {
  t.same(parseListenAddress('127.0.0.1:9474'), { host: '127.0.0.1', port: 9474 });
  t.same(parseListenAddress('[::1]:9474'), { host: '::1', port: 9474 });
  t.same(parseListenAddress('0.0.0.0:9474'), { host: '0.0.0.0', port: 9474 });
  t.same(parseListenAddress('[::]:1'), { host: '::', port: 1 });
  for (const bad of ['', '9474', ':9474', '127.0.0.1', '127.0.0.1:', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:94x',
    'localhost:9474', '::1:9474', '[127.0.0.1]:9474', '[::1]', '256.0.0.1:9474', 'http://127.0.0.1:9474']) {
    t.equal(parseListenAddress(bad), undefined, `"${bad}" refused`);
  }
});

t.test('OVSVLAN_METRICS as a setting: off by default, both flag forms, a bad value names the form', async (t) => {
  t.equal(loadConfig([], {}).metrics, '', 'off by default');
  t.equal(loadConfig(['--metrics', '[::1]:9474'], {}).metrics, '[::1]:9474');
  t.equal(loadConfig(['--metrics=127.0.0.1:9474', '--bridge', 'b'], {}).metrics, '127.0.0.1:9474');
  t.throws(() => loadConfig([], { OVSVLAN_METRICS: 'localhost:9474' }),
    /OVSVLAN_METRICS \(--metrics\) "localhost:9474": must be empty \(off\) or IP:PORT, e\.g\. 127\.0\.0\.1:9474, \[::1\]:9474 or 0\.0\.0\.0:9474/);
});

const NET = 'a'.repeat(64);
const network = (id: string, mode: NetworkRecord['mode']): NetworkRecord => ({
  id, mode, bridge: 'br0', vlan: mode === 'vlan' ? 10 : undefined, mtu: 1500, key: undefined, remotes: [], uplink: undefined,
  nativeVlan: undefined, hostIp: undefined, datapath: 'netdev', gatewayV4: '10.0.0.1', gatewayV6: undefined, internal: false,
});
const endpoint = (id: string): EndpointRecord => ({
  id, networkId: NET, hostIf: `h${id}`, containerIf: `c${id}`, addressV4: undefined, addressV6: undefined, createdAt: 0,
});
const pool = (id: string, subnet: string, subPool: string | undefined, networkId: string | undefined, leases: string[]): PoolRecord => ({
  id, addressSpace: 'ovsvlan-local', v6: subnet.includes(':'), pool: subnet, subPool, networkId, auto: false, lastAllocated: undefined,
  createdAt: 0, leases: Object.fromEntries(leases.map((a) => [a, { kind: 'endpoint' as const, at: 0 }])),
});

class FakeOvsdb extends EventEmitter<{ connected: [] }> {
  isConnected = false;
  connect(): void {
    this.isConnected = true;
    this.emit('connected');
  }
}

t.test('the endpoint: gauges from the state at scrape time, counters, health', async (t) => {
  const networks = [network(NET, 'vlan'), network('b'.repeat(64), 'vxlan')];
  const endpoints = [endpoint('1'), endpoint('2')];
  const pools = [
    pool('p1', '10.0.0.0/24', undefined, NET, ['10.0.0.1', '10.0.0.2', '10.0.0.3']),
    // the gateway is outside the --ip-range, the broadcast address inside it
    pool('p2', '10.0.0.0/24', '10.0.0.128/25', 'b'.repeat(64), ['10.0.0.1', '10.0.0.130']),
    pool('p3', 'fd00::/64', undefined, undefined, []),
  ];
  let loaded = false;
  const state: MetricSources['state'] = {
    get loaded() {
      return loaded;
    },
    networks: () => networks,
    endpoints: () => endpoints,
    pools: () => pools,
  };
  const ovsdb = new FakeOvsdb();
  const metrics = new Metrics();
  metrics.watch({ state, ovsdb });
  const server = await serveMetrics({ host: '127.0.0.1', port: 0 }, metrics, pino({ level: 'silent' }));
  t.teardown(() => server.close());
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const r = await fetch(`http://${server.url}${path}`);
    return { status: r.status, body: await r.text() };
  };

  t.same(await get('/healthz'), { status: 503, body: 'state not loaded\n' }, 'unhealthy before the state is loaded');
  loaded = true;
  t.same(await get('/healthz'), { status: 503, body: 'OVSDB not connected\n' }, 'unhealthy while OVSDB is not connected');
  ovsdb.connect();
  t.same(await get('/healthz'), { status: 200, body: 'ok\n' }, 'healthy');

  metrics.request('NetworkDriver.Join', 'ok', 0.003);
  metrics.request('NetworkDriver.Join', 'ok', 0.004);
  metrics.request('NetworkDriver.Join', 'error', 0.2);
  metrics.reconcile.action('port-missing');
  metrics.reconcile.failure();
  metrics.reconcile.run('error');
  ovsdb.isConnected = false;
  ovsdb.connect();
  const saving = metrics.timeSaves({ load: async () => { throw new Error('unused'); }, append: async () => 1, maybeCompact: () => undefined });
  await saving.append([]);

  const scrape = await get('/metrics');
  t.equal(scrape.status, 200);
  const m = (name: string, labels?: Record<string, string>): number | undefined => sample(scrape.body, name, labels);
  t.equal(m('ovsvlan_requests_total', { call: 'NetworkDriver.Join', outcome: 'ok' }), 2, 'requests by outcome');
  t.equal(m('ovsvlan_requests_total', { call: 'NetworkDriver.Join', outcome: 'error' }), 1);
  t.equal(m('ovsvlan_request_duration_seconds_count', { call: 'NetworkDriver.Join' }), 3, 'latency histogram per call');
  t.equal(m('ovsvlan_request_duration_seconds_bucket', { call: 'NetworkDriver.Join', le: '0.005' }), 2);
  t.equal(m('ovsvlan_networks', { mode: 'vlan' }), 1, 'networks by mode');
  t.equal(m('ovsvlan_networks', { mode: 'vxlan' }), 1);
  t.equal(m('ovsvlan_networks', { mode: 'gre' }), 0, 'a mode with no network is 0, not absent');
  t.equal(m('ovsvlan_endpoints'), 2);
  t.equal(m('ovsvlan_pool_addresses_in_use', { pool: '10.0.0.0/24', network: 'aaaaaaaaaaaa' }), 3);
  t.equal(m('ovsvlan_pool_addresses_free', { pool: '10.0.0.0/24', network: 'aaaaaaaaaaaa' }), 251, '256 - network, broadcast, 3 leases');
  t.equal(m('ovsvlan_pool_addresses_free', { pool: '10.0.0.0/24', network: 'bbbbbbbbbbbb' }), 126, 'the --ip-range: 128 - broadcast, .130');
  t.equal(m('ovsvlan_pool_addresses_free', { pool: 'fd00::/64', network: '' }), 2 ** 64 - 1, 'a /64: a float, approximately 2^64');
  t.equal(m('ovsvlan_reconcile_actions_total', { rule: 'port-missing' }), 1);
  t.equal(m('ovsvlan_reconcile_failures_total'), 1);
  t.equal(m('ovsvlan_reconcile_runs_total', { outcome: 'error' }), 1);
  t.equal(m('ovsvlan_ovsdb_reconnects_total'), 1, 'the second connection is a reconnect');
  t.equal(m('ovsvlan_ovsdb_connected'), 1);
  t.equal(m('ovsvlan_state_save_duration_seconds_count'), 1, 'saves timed');
  t.ok((m('process_cpu_seconds_total') ?? 0) > 0, "prom-client's default process metrics");

  pools.pop();
  endpoints.pop();
  const again = (await get('/metrics')).body;
  t.equal(sample(again, 'ovsvlan_endpoints'), 1, 'gauges follow the state without being told');
  t.equal(sample(again, 'ovsvlan_pool_addresses_free', { pool: 'fd00::/64', network: '' }), undefined, 'a removed pool is gone');

  t.equal((await get('/nope')).status, 404);
  t.equal((await fetch(`http://${server.url}/metrics`, { method: 'POST' })).status, 405);
});

t.test('a listener that cannot be opened is an error', async (t) => {
  const metrics = new Metrics();
  const first = await serveMetrics({ host: '127.0.0.1', port: 0 }, metrics, pino({ level: 'silent' }));
  t.teardown(() => first.close());
  const port = Number(first.url.split(':')[1]);
  await t.rejects(serveMetrics({ host: '127.0.0.1', port }, metrics, pino({ level: 'silent' })), /EADDRINUSE/);
  // the daemon runs on without them, and its log names the setting to change
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  t.equal(await openMetrics(`127.0.0.1:${port}`, metrics, log), undefined, 'no server');
  const [error] = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
  t.equal(error?.level, 50, 'logged as an error');
  t.match(error?.msg, `cannot serve metrics on OVSVLAN_METRICS=127.0.0.1:${port}: listen EADDRINUSE`);
});
