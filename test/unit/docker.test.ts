// The boundary with Docker and with the tools doctor runs: the shared
// DockerClient against a fake Engine API on a real Unix socket (answers checked
// before use, 404 as "none", calls bounded and cancelled), the endpoint
// parsing, the /proc parsing that finds when dockerd started, and `ip -j`.
import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerClient, dockerSocketPath } from '../../src/docker/client.js';
import { bootTime, listeningInodes, startTicks } from '../../src/docker/started.js';
import { parseIpLinks } from '../../src/cli/doctor-probe.js';
import { dockerContainers } from '../../src/reconcile/containers.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Canned answers by method and path (query excluded); `hang` never answers. */
const ROUTES: Record<string, (res: ServerResponse) => void> = {
  'GET /version': (res) => json(res, 200, { Version: '20.10.24+dfsg1' }),
  'GET /containers/json': (res) => json(res, 200, [
    { Id: 'aaa111', Names: ['/web'], NetworkSettings: { Networks: { v10: { NetworkID: 'n10', EndpointID: 'e1' } } } },
    { Names: ['/no-id'] },
    'not an object',
    { Id: 'bbb222bbb222bbb222', Names: 'not a list', NetworkSettings: { Networks: { v10: { NetworkID: 42 } } } },
  ]),
  'GET /containers/web/json': (res) => json(res, 200, {
    Id: 'aaa111', Name: '/web', HostConfig: { RestartPolicy: { Name: 'always' } }, Config: { Hostname: 'web1' },
    State: { Status: 'exited', Running: false, Pid: 0, Error: 'plugin "ovsvlan" not found', FinishedAt: '2026-03-01T12:00:00.5Z' },
    NetworkSettings: { Networks: { v10: { NetworkID: 'n10', EndpointID: '' } } },
  }),
  'GET /containers/fresh/json': (res) => json(res, 200, { Id: 'ccc333', State: { Status: 'created', Pid: '7', FinishedAt: ZERO_TIME }, NetworkSettings: null }),
  'GET /containers/noid/json': (res) => json(res, 200, { Name: '/noid' }),
  'GET /containers/gone/json': (res) => json(res, 404, { message: 'No such container: gone' }),
  'POST /containers/aaa111/start': (res) => res.writeHead(204).end(),
  'POST /containers/running/start': (res) => res.writeHead(304).end(),
  'POST /containers/broken/start': (res) => json(res, 500, { message: 'failed to create endpoint' }),
  'GET /networks/n10': (res) => json(res, 200, { Containers: { c1: { EndpointID: 'e1', IPv4Address: '192.0.2.10/24', IPv6Address: '' }, c2: 'junk' } }),
  'GET /networks/gone': (res) => json(res, 404, { message: 'network gone not found' }),
  'GET /networks': (res) => json(res, 200, [{ IPAM: { Config: [{ Subnet: '192.0.2.0/24' }, { Subnet: 7 }] } }, { IPAM: null }]),
  'GET /containers/hang/json': () => undefined,
  'GET /containers/aaa111/json': (res) => json(res, 200, { Id: 'aaa111', Name: '/web', State: { Status: 'exited' },
    NetworkSettings: { Networks: { v10: { NetworkID: 'n10', EndpointID: '' } } } }),
  'GET /info': (res) => json(res, 500, { message: 'info is broken' }),
};

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

async function fakeDocker(t: { teardown(fn: () => unknown): void }): Promise<{ client: DockerClient; seen: string[]; closed: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'ovsvlan-docker-'));
  const seen: string[] = [];
  const closed: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    seen.push(`${req.method} ${url.pathname}${url.search}`);
    res.on('close', () => { if (!res.writableEnded) closed.push(url.pathname); });
    const route = ROUTES[`${req.method} ${url.pathname}`];
    if (route) route(res);
    else json(res, 404, { message: 'page not found' });
  });
  const sock = join(dir, 'docker.sock');
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  return { client: new DockerClient(sock), seen, closed };
}

t.test('the endpoint: unix:///path, or empty for no Docker', async (t) => {
  t.equal(dockerSocketPath('unix:///var/run/docker.sock'), '/var/run/docker.sock');
  t.equal(dockerSocketPath(''), undefined);
  t.equal(DockerClient.of(''), undefined, 'OVSVLAN_DOCKER empty: no client');
  t.equal(DockerClient.of('unix:///run/d.sock')?.socketPath, '/run/d.sock');
});

t.test('answers are checked before use', async (t) => {
  const { client, seen } = await fakeDocker(t);
  t.equal(await client.version(), '20.10.24+dfsg1');

  const listed = await client.containers(['exited', 'created']);
  t.same(listed.map((c) => c.id), ['aaa111', 'bbb222bbb222bbb222'], 'entries without an Id are skipped');
  t.same([...(listed[0]?.networks ?? [])], [['v10', { networkId: 'n10', endpointId: 'e1' }]]);
  t.equal(listed[1]?.name, 'bbb222bbb222', 'Names not a list: the short ID');
  t.same([...(listed[1]?.networks ?? [])], [['v10', { networkId: '', endpointId: '' }]], 'a mistyped NetworkID reads as absent');
  t.ok(seen.includes(`GET /containers/json?all=true&filters=${encodeURIComponent('{"status":["exited","created"]}')}`), 'the filter is sent');

  t.same(await client.container('web'), {
    id: 'aaa111', name: 'web', networks: new Map([['v10', { networkId: 'n10', endpointId: '' }]]), status: 'exited', running: false, pid: 0,
    error: 'plugin "ovsvlan" not found', finishedAt: Date.parse('2026-03-01T12:00:00.5Z'), restartPolicy: 'always', hostname: 'web1',
  });
  const fresh = await client.container('fresh');
  t.equal(fresh?.pid, 0, 'a Pid that is not a number reads as 0');
  t.equal(fresh?.finishedAt, undefined, "Docker's zero time: never ran");
  t.equal(fresh?.name, 'ccc333');
  t.equal(await client.container('gone'), undefined, 'no such container');
  await t.rejects(client.container('noid'), /without an Id/);

  t.same(await client.networkEndpoints('n10'), [{ endpointId: 'e1', addresses: ['192.0.2.10'] }, { endpointId: '', addresses: [] }]);
  t.equal(await client.networkEndpoints('gone'), undefined, 'no such network');
  t.same(await client.subnets(), ['192.0.2.0/24']);

  await client.start('aaa111');
  await client.start('running');
  await t.rejects(client.start('broken'), /HTTP code 500.*failed to create endpoint/);
});

t.test('calls are bounded and cancellable', async (t) => {
  const { client, closed } = await fakeDocker(t);
  await t.rejects(client.container('hang', { timeoutMs: 100 }), { message: /did not answer GET \/containers\/hang\/json within 0.1 s/ });
  const abort = new AbortController();
  const call = client.container('hang', { signal: abort.signal, timeoutMs: 60_000 });
  setTimeout(() => abort.abort(), 50);
  await t.rejects(call, { name: 'AbortError' });
  for (let i = 0; i < 100 && closed.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(closed, ['/containers/hang/json', '/containers/hang/json'], 'both requests were torn down, not left open');
  await t.rejects(new DockerClient('/nonexistent/docker.sock').version(), /ENOENT/);
});

t.test('the reviver\'s lookup: /info asked only when a container matches, its failure leaves stoppedByUser not known', async (t) => {
  const { client, seen } = await fakeDocker(t);
  const api = dockerContainers(client);
  const signal = new AbortController().signal;
  t.same(await api?.stoppedOn(new Set(['other']), signal), [], 'none on the networks');
  t.notOk(seen.includes('GET /info'), 'Docker\'s root directory not asked');
  const found = await api?.stoppedOn(new Set(['n10']), signal);
  t.same(found?.map((c) => [c.name, c.stoppedByUser]), [['web', undefined]], '/info failing: the container is still found');
  t.ok(seen.includes('GET /info'), 'asked once a container matches');
});

t.test('when dockerd started, from /proc', async (t) => {
  const netUnix = [
    'Num       RefCount Protocol Flags    Type St Inode Path',
    '0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/docker.sock',
    '0000000000000000: 00000003 00000000 00000000 0001 03 23457 /run/docker.sock',
    '0000000000000000: 00000002 00000000 00010000 0001 01 30000 /run/containerd/containerd.sock',
    '0000000000000000: 00000002 00000000 00010000 0001 01 31000 /run/my docker.sock',
    '0000000000000000: 00000002 00000000 00010000 0005 01 32000',
  ].join('\n');
  t.same([...listeningInodes(netUnix, new Set(['/var/run/docker.sock', '/run/docker.sock']))], ['23456'], 'the listening one, not a connection');
  t.same([...listeningInodes(netUnix, new Set(['/run/my docker.sock']))], ['31000'], 'a path with a space');
  const stat = '1234 (dockerd (x) y) S 1 1234 1234 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 12 0 987654 1000 100 18446744073709551615';
  t.equal(startTicks(stat), 987654, 'field 22, counted after a comm with spaces and parentheses');
  t.equal(bootTime('cpu  1 2 3\nbtime 1764662400\nprocesses 9\n'), 1764662400);
  t.equal(bootTime('cpu 1\n'), undefined);
});

t.test('ip -j link show: links with an index and a name, the rest skipped', async (t) => {
  t.same(parseIpLinks('[{"ifindex":1,"ifname":"lo"},{"ifindex":7,"ifname":"ovh0123456789ab","link_index":6},{"ifname":"x"},null,{"ifindex":"8","ifname":"y"}]'),
    [{ ifindex: 1, ifname: 'lo', linkIndex: undefined }, { ifindex: 7, ifname: 'ovh0123456789ab', linkIndex: 6 }]);
  t.throws(() => parseIpLinks('{"ifindex":1}'), /not print a JSON array/);
});
