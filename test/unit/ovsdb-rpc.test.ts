// JSON stream splitting and the JSON-RPC session, against a scripted peer on
// a Unix socket in a temp dir (the real ovsdb-server is in test/integration).
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { JsonRpcConnection, JsonStreamSplitter } from '../../src/ovsdb/rpc.js';
import { OvsdbConnectionError, OvsdbError, OvsdbTimeoutError } from '../../src/ovsdb/errors.js';

// Back to back with no delimiter, as ovsdb-server writes them; strings hold braces, brackets,
// escaped quotes, a trailing escaped backslash, and 2-, 3- and 4-byte UTF-8 characters.
const MESSAGES: unknown[] = [
  { id: 1, result: [{ uuid: ['uuid', '2a6b6bd6-5cf1-4a5c-8a4f-0d2b0a8b1d00'] }], error: null },
  { method: 'update', params: ['m', { T: { u: { new: { s: '{"not": [an object}' } } } }], id: null },
  { id: 2, result: { q: 'say \\"}\\" and ]', back: 'ends with \\', nested: [[[]], {}] }, error: null },
  { id: 'echo', method: 'echo', params: ['ü€😀', '}{', '\u0000\n\t'] },
  [1, 'array message', { x: '\\\\"' }],
];
const STREAM = Buffer.from(MESSAGES.map((m) => JSON.stringify(m)).join(''), 'utf8');

t.test('the test stream really has multi-byte characters', async (t) => {
  t.ok(STREAM.length > STREAM.toString('utf8').length, 'more bytes than UTF-16 code units');
  t.ok(STREAM.includes(Buffer.from('😀', 'utf8')));
});

t.test('whole stream in one chunk', async (t) => {
  t.same(new JsonStreamSplitter().push(STREAM), MESSAGES);
});

t.test('split into two chunks at every byte boundary', async (t) => {
  for (let i = 0; i <= STREAM.length; i++) {
    const s = new JsonStreamSplitter();
    const got = [...s.push(STREAM.subarray(0, i)), ...s.push(STREAM.subarray(i))];
    if (JSON.stringify(got) !== JSON.stringify(MESSAGES) || s.pending !== 0) {
      t.fail(`split at byte ${i} gave ${JSON.stringify(got)}`);
      return;
    }
  }
  t.pass(`all ${STREAM.length + 1} split points`);
});

t.test('split into three chunks at every pair of boundaries', async (t) => {
  let n = 0;
  for (let i = 0; i <= STREAM.length; i += 1) {
    for (let j = i; j <= STREAM.length; j += 3) {
      const s = new JsonStreamSplitter();
      const got = [...s.push(STREAM.subarray(0, i)), ...s.push(STREAM.subarray(i, j)), ...s.push(STREAM.subarray(j))];
      if (JSON.stringify(got) !== JSON.stringify(MESSAGES)) {
        t.fail(`split at ${i},${j}`);
        return;
      }
      n++;
    }
  }
  t.pass(`${n} split pairs`);
});

t.test('one byte at a time; messages come out as soon as they are complete', async (t) => {
  const s = new JsonStreamSplitter();
  const got: unknown[] = [];
  const firstLen = Buffer.byteLength(JSON.stringify(MESSAGES[0]));
  for (let i = 0; i < STREAM.length; i++) {
    got.push(...s.push(STREAM.subarray(i, i + 1)));
    if (i === firstLen - 2) t.equal(got.length, 0, 'nothing before the closing brace');
    if (i === firstLen - 1) t.equal(got.length, 1, 'first message right at its closing brace');
  }
  t.same(got, MESSAGES);
});

t.test('whitespace between messages is skipped; garbage is refused', async (t) => {
  t.same(new JsonStreamSplitter().push(' {"a":1}\n\r\t[2] '), [{ a: 1 }, [2]]);
  t.throws(() => new JsonStreamSplitter().push('{"a":1}}'), SyntaxError);
  t.throws(() => new JsonStreamSplitter().push('"str"'), SyntaxError);
  t.throws(() => new JsonStreamSplitter().push('42'), SyntaxError);
  t.throws(() => new JsonStreamSplitter().push('{"a":tru}'), SyntaxError, 'balanced but not JSON');
  const small = new JsonStreamSplitter(16);
  t.same(small.push('{"a":"0123456789"}'), [{ a: '0123456789' }], 'a complete message is never held');
  t.throws(() => small.push('{"a":"0123456789abcdef'), /larger than 16 bytes/);
});

/** A scripted peer: the test reads what the client sent and writes raw bytes back. */
async function peer(t: Test): Promise<{ rpc: JsonRpcConnection; server: Socket; received: () => Promise<unknown> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ovsdb-rpc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'sock');
  const srv = createServer();
  srv.listen(path);
  await once(srv, 'listening');
  const accepted = once(srv, 'connection') as Promise<[Socket]>;
  const client = createConnection({ path });
  await once(client, 'connect');
  const [server] = await accepted;
  t.teardown(() => new Promise<void>((r) => {
    server.destroy();
    client.destroy();
    srv.close(() => r()); // after the sockets: close() waits for open connections
  }));
  const rpc = new JsonRpcConnection(client);
  const splitter = new JsonStreamSplitter();
  const queue: unknown[] = [];
  let wake: (() => void) | undefined;
  server.on('data', (d: Buffer) => {
    queue.push(...splitter.push(d));
    wake?.();
  });
  const received = async (): Promise<unknown> => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    return queue.shift();
  };
  return { rpc, server, received };
}

t.test('requests are correlated by id, replies may come out of order and in pieces', async (t) => {
  const { rpc, server, received } = await peer(t);
  const a = rpc.request('list_dbs', []);
  const b = rpc.request('transact', ['Open_vSwitch', { op: 'comment', comment: 'x' }]);
  const ra = (await received()) as { id: number; method: string; params: unknown[] };
  const rb = (await received()) as { id: number; method: string; params: unknown[] };
  t.equal(ra.method, 'list_dbs');
  t.same(rb.params, ['Open_vSwitch', { op: 'comment', comment: 'x' }]);
  t.not(ra.id, rb.id);
  const replies = Buffer.from(JSON.stringify({ id: rb.id, result: [{}], error: null }) +
    JSON.stringify({ id: ra.id, result: ['Open_vSwitch', '_Server'], error: null }));
  server.write(replies.subarray(0, 7));
  setTimeout(() => server.write(replies.subarray(7)), 20);
  t.same(await b, [{}]);
  t.same(await a, ['Open_vSwitch', '_Server']);
});

t.test('answers echo (RFC 7047 §4.1.11) and emits notifications', async (t) => {
  const { rpc, server, received } = await peer(t);
  const notes: unknown[] = [];
  rpc.on('notification', (method, params) => notes.push([method, params]));
  server.write(JSON.stringify({ id: 'echo', method: 'echo', params: ['ping', 1] }));
  t.same(await received(), { id: 'echo', result: ['ping', 1], error: null });
  server.write(JSON.stringify({ id: 9, method: 'bogus', params: [] }));
  t.match(await received(), { id: 9, result: null, error: { error: 'unknown method' } });
  server.write(JSON.stringify({ id: null, method: 'update', params: ['mon', { Open_vSwitch: {} }] }));
  const ping = rpc.request('echo', []); // round trip so the notification has surely been processed
  const req = (await received()) as { id: number };
  server.write(JSON.stringify({ id: req.id, result: [], error: null }));
  await ping;
  t.same(notes, [['update', ['mon', { Open_vSwitch: {} }]]]);
});

t.test('an error reply rejects with OvsdbError carrying the RFC code', async (t) => {
  const { rpc, server, received } = await peer(t);
  const p = rpc.request('transact', ['Nope']);
  const req = (await received()) as { id: number };
  server.write(JSON.stringify({ id: req.id, result: null,
    error: { error: 'unknown database', details: 'transact request specifies unknown database Nope' } }));
  await t.rejects(p, { constructor: OvsdbError, code: 'unknown database', message: /unknown database Nope/ });
});

t.test('timeouts reject with OvsdbTimeoutError and the late reply is ignored', async (t) => {
  const { rpc, server, received } = await peer(t);
  const p = rpc.request('list_dbs', [], 50);
  const req = (await received()) as { id: number };
  await t.rejects(p, OvsdbTimeoutError);
  server.write(JSON.stringify({ id: req.id, result: [], error: null }));
  const q = rpc.request('list_dbs', [], 1000);
  const req2 = (await received()) as { id: number };
  server.write(JSON.stringify({ id: req2.id, result: ['x'], error: null }));
  t.same(await q, ['x']);
});

t.test('peer closing rejects every pending request with OvsdbConnectionError', async (t) => {
  const { rpc, server, received } = await peer(t);
  const closed = once(rpc, 'close');
  const p1 = rpc.request('list_dbs', []);
  const p2 = rpc.request('transact', ['Open_vSwitch']);
  await received();
  await received();
  server.end();
  await t.rejects(p1, OvsdbConnectionError);
  await t.rejects(p2, { code: 'OVSDB_ERR_CONNECTION', message: /transact aborted/ });
  await closed;
  t.ok(rpc.closed);
  await t.rejects(rpc.request('list_dbs', []), OvsdbConnectionError, 'requests after close fail at once');
});

t.test('a peer sending garbage gets disconnected with OvsdbConnectionError', async (t) => {
  const { rpc, server, received } = await peer(t);
  const p = rpc.request('list_dbs', []);
  await received();
  const closed = once(rpc, 'close') as Promise<[Error | undefined]>;
  server.write('}{');
  const [err] = await closed;
  t.ok(err instanceof OvsdbConnectionError);
  t.match(err?.message, /invalid JSON/);
  await t.rejects(p, OvsdbConnectionError);
});
