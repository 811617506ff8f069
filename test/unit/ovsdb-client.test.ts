// OvsdbClient options, backoff and lifecycle, without ovsdb-server: a missing
// socket, then a minimal scripted server (the real one is in test/integration).
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { OvsdbClient, parseEndpoint } from '../../src/ovsdb/client.js';
import { OvsdbConnectionError } from '../../src/ovsdb/errors.js';
import { JsonStreamSplitter } from '../../src/ovsdb/rpc.js';
import { captureLogger } from '../helpers/log.js';


const silent = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function tmpSocketPath(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ovsdb-client-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'db.sock');
}

/** Answers list_dbs and an Open_vSwitch monitor like ovsdb-server would; nothing else. */
async function fakeOvsdb(t: Test, path: string): Promise<Server> {
  const socks = new Set<Socket>();
  const srv = createServer((sock) => {
    socks.add(sock);
    const splitter = new JsonStreamSplitter();
    sock.on('data', (d: Buffer) => {
      for (const m of splitter.push(d) as Array<{ id: number; method: string }>) {
        const result = m.method === 'list_dbs' ? ['Open_vSwitch', '_Server']
          : { Open_vSwitch: { '2a6b6bd6-5cf1-4a5c-8a4f-0d2b0a8b1d00': { new: { cur_cfg: 3, next_cfg: 3 } } } };
        sock.write(JSON.stringify({ id: m.id, result, error: null }));
      }
    });
  });
  t.teardown(() => new Promise<void>((r) => {
    for (const s of socks) s.destroy(); // server.close() waits for open connections
    srv.close(() => r());
  }));
  srv.listen(path);
  await once(srv, 'listening');
  return srv;
}

t.test('options are checked at construction', async (t) => {
  t.equal(parseEndpoint('unix:/run/openvswitch/db.sock'), '/run/openvswitch/db.sock');
  t.throws(() => new OvsdbClient({ endpoint: 'tcp:127.0.0.1:6640', logger: silent }), {
    name: 'TypeError', message: /only unix:\/path\/to\/db.sock is supported \(not tcp:\)/,
  });
  t.throws(() => new OvsdbClient({ endpoint: '/run/openvswitch/db.sock', logger: silent }), TypeError);
  t.throws(() => new OvsdbClient({ endpoint: 'unix:', logger: silent }), TypeError);
  t.throws(() => new OvsdbClient({ endpoint: 'unix:/x', logger: silent, requestTimeoutMs: 0 }), RangeError);
  t.throws(() => new OvsdbClient({ endpoint: 'unix:/x', logger: silent, backoff: { initialMs: 500, maxMs: 100 } }), RangeError);
});

t.test('requests before connect() fail at once', async (t) => {
  const c = new OvsdbClient({ endpoint: 'unix:/nonexistent/db.sock', logger: silent });
  t.notOk(c.isConnected);
  await t.rejects(c.transact([]), { constructor: OvsdbConnectionError, message: /call connect\(\) first/ });
});

t.test('retries with doubling backoff, one warn per attempt, until the server appears', async (t) => {
  const path = await tmpSocketPath(t);
  const { logger, lines } = captureLogger();
  const c = new OvsdbClient({ endpoint: `unix:${path}`, logger, requestTimeoutMs: 300, backoff: { initialMs: 40, maxMs: 160 } });
  t.teardown(() => c.close());
  let connectedEvents = 0;
  c.on('connected', () => connectedEvents++);
  const connecting = c.connect();
  // a request while not connected waits requestTimeoutMs, then fails
  const started = Date.now();
  await t.rejects(c.transact([]), { constructor: OvsdbConnectionError, message: /not connected .* after waiting 300 ms/ });
  t.ok(Date.now() - started >= 290);
  await sleep(400);
  const warns = lines.filter((l) => l.msg === 'OVSDB connection attempt failed');
  t.ok(warns.length >= 4, `${warns.length} failed attempts logged`);
  t.ok(warns.every((l) => l.level === 40), 'at warn');
  t.same(warns.slice(0, 4).map((l) => l.retryInMs), [40, 80, 160, 160], 'doubling, capped at maxMs');
  t.same(warns.slice(0, 4).map((l) => l.attempt), [1, 2, 3, 4]);
  await fakeOvsdb(t, path);
  await connecting;
  t.ok(c.isConnected);
  t.equal(connectedEvents, 1);
});

t.test('close() during retries rejects connect() and stops the attempts', async (t) => {
  const path = await tmpSocketPath(t);
  const { logger, lines } = captureLogger();
  const c = new OvsdbClient({ endpoint: `unix:${path}`, logger, backoff: { initialMs: 30, maxMs: 30 } });
  const connecting = c.connect();
  await sleep(100);
  await c.close();
  await t.rejects(connecting, { constructor: OvsdbConnectionError, message: /closed/ });
  const n = lines.length;
  await sleep(150);
  t.equal(lines.length, n, 'no attempts after close');
  await t.rejects(c.connect(), OvsdbConnectionError);
});

t.test('transactAndWait refuses a database other than Open_vSwitch', async (t) => {
  const path = await tmpSocketPath(t);
  const c = new OvsdbClient({ endpoint: `unix:${path}`, database: 'OVN_Northbound', logger: silent });
  await t.rejects(c.transactAndWait([]), { code: 'not supported', message: /needs the Open_vSwitch database/ });
});
