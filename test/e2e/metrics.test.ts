// OVSVLAN_METRICS on a simulated host: what a Prometheus scraper on the
// host's loopback sees of real `docker run`s, and /healthz following OVS
// (ovsdb-server) going away and coming back.
import t from 'tap';
import { createHost } from '../helpers/host.js';
import { httpGet, sample } from '../helpers/metrics.js';
import { waitFor } from '../helpers/run.js';

const LISTEN = '127.0.0.1:9474';
const SUBNET = '192.0.2.0/24';
const WAIT_MS = 30_000;

t.test('metrics and health of a daemon driven by dockerd', async (t) => {
  const host = await createHost('m', t);
  await host.startPlugin({ env: { OVSVLAN_METRICS: LISTEN } });
  const get = (path: string): ReturnType<typeof httpGet> => httpGet(host.ns.name, `http://${LISTEN}${path}`);
  const scrape = async (): Promise<string> => {
    const r = await get('/metrics');
    if (r.status !== 200) throw new Error(`GET /metrics: ${r.status} ${r.body}`);
    return r.body;
  };
  /** Scrapes until `name{labels}` passes `ok` (or the time is up) and returns what it saw last. */
  const settle = async (name: string, labels: Record<string, string>, ok: (v: number) => boolean): Promise<number | undefined> => {
    let seen: number | undefined;
    const check = async (): Promise<boolean> => (seen = sample(await scrape(), name, labels)) !== undefined && ok(seen);
    await waitFor(name, check, WAIT_MS).catch(() => undefined);
    return seen;
  };
  const calls = (text: string, call: string): number | undefined =>
    sample(text, 'ovsvlan_requests_total', { call: `NetworkDriver.${call}`, outcome: 'ok' });

  await t.test('healthy once started; nothing counted yet', async (t) => {
    await waitFor('/healthz 200', async () => (await get('/healthz')).status === 200, WAIT_MS).catch(() => undefined);
    t.same(await get('/healthz'), { status: 200, body: 'ok\n' }, '/healthz: 200 ok');
    const text = await scrape();
    t.equal(sample(text, 'ovsvlan_endpoints'), 0, 'no endpoint');
    t.equal(calls(text, 'CreateEndpoint'), undefined, 'no CreateEndpoint yet');
    t.match(text, /^# TYPE ovsvlan_request_duration_seconds histogram$/m, 'request latency histogram declared');
    t.match(text, /^process_resident_memory_bytes \d+/m, 'default process metrics');
  });

  await t.test('three docker run: CreateEndpoint and Join at 3, the endpoint gauge at 3, the pool filling', async (t) => {
    await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'ovsvlan', '--opt', 'vlan=100', '--subnet', SUBNET, 'm100']);
    const netId = (await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'm100'])).slice(0, 12);
    for (const c of ['c1', 'c2', 'c3']) await host.dockerOk(['run', '-d', '--name', c, '--net', 'm100', 'busybox:local', 'sleep', '3600']);
    const text = await scrape();
    t.equal(calls(text, 'CreateNetwork'), 1, 'CreateNetwork ok: 1');
    t.equal(calls(text, 'CreateEndpoint'), 3, 'CreateEndpoint ok: 3');
    t.equal(calls(text, 'Join'), 3, 'Join ok: 3');
    t.equal(sample(text, 'ovsvlan_request_duration_seconds_count', { call: 'NetworkDriver.Join' }), 3, 'three Join latencies');
    t.equal(sample(text, 'ovsvlan_endpoints'), 3, 'endpoints: 3');
    t.equal(sample(text, 'ovsvlan_networks', { mode: 'vlan' }), 1, 'networks{mode="vlan"}: 1');
    const pool = { pool: SUBNET, network: netId };
    t.equal(sample(text, 'ovsvlan_pool_addresses_in_use', pool), 4, 'pool: the gateway and three containers in use');
    t.equal(sample(text, 'ovsvlan_pool_addresses_free', pool), 250, 'pool: 254 - 4 free');
    t.ok((sample(text, 'ovsvlan_state_save_duration_seconds_count') ?? 0) > 0, 'state saves timed');

    await host.dockerOk(['rm', '-f', 'c3']);
    t.equal(await settle('ovsvlan_endpoints', {}, (v) => v === 2), 2, 'endpoints back down to 2 after docker rm');
    const after = await scrape();
    t.equal(calls(after, 'DeleteEndpoint'), 1, 'DeleteEndpoint ok: 1');
    t.equal(sample(after, 'ovsvlan_pool_addresses_in_use', pool), 3, 'pool: its address given back');
  });

  await t.test('/healthz: 503 while OVS is stopped, 200 once it is back', async (t) => {
    const start = await scrape();
    const reconnects = sample(start, 'ovsvlan_ovsdb_reconnects_total') ?? 0;
    const runs = sample(start, 'ovsvlan_reconcile_runs_total', { outcome: 'ok' }) ?? 0;
    t.ok(runs >= 1, `the first reconciliation counted (${runs})`);
    await host.ovs.stop();
    await waitFor('/healthz 503', async () => (await get('/healthz')).status === 503, WAIT_MS).catch(() => undefined);
    t.same(await get('/healthz'), { status: 503, body: 'OVSDB not connected\n' }, '/healthz: 503 and why');
    t.equal(sample(await scrape(), 'ovsvlan_ovsdb_connected'), 0, '/metrics still answers: ovsdb_connected 0');

    await host.ovs.start();
    await waitFor('/healthz 200', async () => (await get('/healthz')).status === 200, WAIT_MS).catch(() => undefined);
    t.same(await get('/healthz'), { status: 200, body: 'ok\n' }, '/healthz: 200 again');
    const text = await scrape();
    t.equal(sample(text, 'ovsvlan_ovsdb_connected'), 1, 'ovsdb_connected 1');
    t.ok((sample(text, 'ovsvlan_ovsdb_reconnects_total') ?? 0) > reconnects, 'the reconnect counted');
    const later = await settle('ovsvlan_reconcile_runs_total', { outcome: 'ok' }, (v) => v > runs);
    t.ok((later ?? 0) > runs, `a reconciliation after the reconnect ran to its end (runs ok: ${runs} -> ${later})`);
  });
});
