// HTTP framing as Docker speaks it, over a real Unix socket: no Content-Type,
// empty bodies, errors as 500 {"Err"}, never an empty body.
import t from 'tap';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startServer } from '../../src/protocol/server.js';
import { openSocket } from '../../src/protocol/socket.js';
import { InvalidOptionError } from '../../src/errors.js';
import { Fields } from '../../src/protocol/decode.js';

function post(socketPath: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': String(Buffer.byteLength(body ?? '')) };
    const req = request({ socketPath, path, method: 'POST', headers }, (res) => {
      let data = '';
      res.on('data', (c: Buffer) => (data += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('framing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ovsvlan-srv-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sock = join(dir, 'p.sock');
  const socket = await openSocket(sock);
  t.teardown(() => socket.close());
  // a request sent before the app exists waits for it instead of failing
  const early = post(sock, '/Empty.Ok');
  const observed: string[] = [];
  const app = await startServer({
    '/Echo.Id': (b) => ({ Got: new Fields(b).string('NetworkID') }),
    '/Fail.Option': () => { throw new InvalidOptionError('vlan', 'invalid vlan "0": must be a VLAN ID from 1 to 4094'); },
    '/Empty.Ok': () => ({}),
  }, pino({ level: 'silent' }), socket, (call, outcome, seconds) => observed.push(`${call} ${outcome} ${seconds >= 0}`));
  t.teardown(() => app.close());
  t.same(await early, { status: 200, body: '{}' }, 'a request made while starting is served once ready');

  t.equal((await stat(sock)).mode & 0o777, 0o660, 'socket mode 0660');
  t.same(await post(sock, '/Echo.Id', '{"NetworkID":"n1"}\n'), { status: 200, body: '{"Got":"n1"}' }, 'JSON body without Content-Type');
  t.same(await post(sock, '/Empty.Ok'), { status: 200, body: '{}' }, 'bodyless call answers {}');
  const fail = await post(sock, '/Fail.Option', '{}');
  t.equal(fail.status, 500);
  t.same(JSON.parse(fail.body), { Err: 'invalid vlan "0": must be a VLAN ID from 1 to 4094' });
  const empty = await post(sock, '/Echo.Id');
  t.equal(empty.status, 500, 'empty body on a call that needs one');
  t.same(JSON.parse(empty.body), { Err: 'request has no NetworkID' });
  const garbage = await post(sock, '/Echo.Id', '{not json');
  t.equal(garbage.status, 500);
  t.match(JSON.parse(garbage.body), { Err: /not JSON/ });
  const unknown = await post(sock, '/NetworkDriver.Nope', '{}');
  t.equal(unknown.status, 404);
  t.match(JSON.parse(unknown.body), { Err: /not implemented/ });

  await t.rejects(openSocket(sock), /another process is serving/, 'a live socket is not stolen');
  t.same(observed, ['Empty.Ok ok true', 'Echo.Id ok true', 'Empty.Ok ok true', 'Fail.Option error true', 'Echo.Id error true',
    'Echo.Id error true', 'unknown error true'], 'the observer is told each call by route, its outcome and duration');
  const badPath = await post(sock, `/Echo.Id%zz${'x'.repeat(5000)}`, '{}');
  t.same([badPath.status, JSON.parse(badPath.body)], [500, { Err: `"/Echo.Id%zz${'x'.repeat(53)}"… is not a valid request path` }], 'a path that is no URL: Err, and only its start');
  for (let i = 0; i < 3; i++) {
    const big = await post(sock, '/Echo.Id', `{"NetworkID":"${'x'.repeat(17 * 1024 * 1024)}"}`);
    t.same([big.status, JSON.parse(big.body)], [500, { Err: 'request body is larger than 16 MiB' }], 'a body over 16 MiB is read to its end and refused, not reset');
  }
});

t.test('only a stale socket file is replaced: a file or directory at the socket path is refused and left alone', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ovsvlan-srv-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'file.sock'), 'the operator\'s\n');
  await mkdir(join(dir, 'dir.sock'));
  await t.rejects(openSocket(join(dir, 'file.sock')), /^OVSVLAN_SOCKET: ".*\/file\.sock" is a regular file, not a socket; ovsvlan replaces only a stale socket there/);
  t.equal(await readFile(join(dir, 'file.sock'), 'utf8'), 'the operator\'s\n', 'the file is kept');
  await t.rejects(openSocket(join(dir, 'dir.sock')), /^OVSVLAN_SOCKET: ".*\/dir\.sock" is a directory, not a socket/);
  t.same((await readdir(dir)).sort(), ['dir.sock', 'file.sock'], 'nothing else made, no hidden socket left');
});
