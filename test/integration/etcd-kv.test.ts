// The etcd Kv (src/cluster/etcd-kv.ts) on a private three-member etcd 3.4 cluster: the Kv
// contract (the same assertions the in-memory store passes); with one member stopped, or one that
// takes connections and never answers, every call still works and no lease is lost; with all stopped each call fails with ClusterUnreachableError "etcd unreachable: …"
// within the call deadline (a correctness bound, kept generous), a watch is reset, a lease whose
// keepalives cannot get through for longer than its TTL is reported lost, and once the members are
// back the same Kv works again; a watch from a compacted revision is reset; over TLS (a one-member
// cluster with a CA made here) the Kv works with the CA and a client certificate, and fails without
// (a certificate without the CA uses the system's CAs).
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { ClusterUnreachableError, ETCD_CALL_TIMEOUT_MS, type Kv } from '../../src/cluster/kv.js';
import { openEtcdKv } from '../../src/cluster/etcd-kv.js';
import { startEtcdCluster } from '../helpers/etcd.js';
import { kvContract } from '../helpers/kv-contract.js';
import { RUN_DIR, RUN_PREFIX, run, runOk, sleep, waitFor } from '../helpers/run.js';

const etcd = await startEtcdCluster('kv', { members: 3, t });
const P = `/${RUN_PREFIX}/etcd-kv/`;

const open = async (t: Test): Promise<Kv> => {
  const kv = await openEtcdKv({ endpoints: etcd.endpoints });
  t.teardown(() => kv.close());
  return kv;
};

/** One of each call that must reach etcd; each resolves or rejects. */
const everyCall = (kv: Kv, key: string): Record<string, () => Promise<unknown>> => ({
  get: () => kv.get(key),
  range: () => kv.range(P),
  txn: () => kv.txn([{ key, target: 'version', op: '>', value: -1 }], [{ op: 'put', key, value: 'x' }]),
  grantLease: async () => (await kv.grantLease(5)).revoke(),
  watch: async () => (await kv.watch(P, 0, { onEvents: () => {}, onReset: () => {} })).close(),
});

t.test('the Kv contract', async (t) => {
  kvContract(t, async () => {
    const kv = await openEtcdKv({ endpoints: etcd.endpoints });
    return { kv, cleanup: () => kv.close() };
  });
});

t.test('one member of three stopped: every call still works', async (t) => {
  const kv = await open(t);
  await kv.get(`${P}warm`); // connections to every member are made lazily; make some
  await etcd.stop(1);
  t.teardown(() => etcd.start(1));
  // calls pick a member at random: repeat so the stopped one is picked too
  for (let round = 0; round < 6; round++) {
    for (const [name, call] of Object.entries(everyCall(kv, `${P}one-down`))) {
      await t.resolves(call(), `${name}, round ${round}`);
    }
  }
  await etcd.start(1);
});

t.test('a member that accepts connections but never answers: every call still works', async (t) => {
  // a listener on this run's loopback port that takes the TCP connection and stays silent: no RST,
  // no HTTP/2 preface, as a member behind a dead link looks to a client
  const sockets: Socket[] = [];
  const silent = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => silent.close(() => r()));
  });
  const port = (silent.address() as AddressInfo).port;
  const kv = await openEtcdKv({ endpoints: [`http://127.0.0.1:${port}`, ...etcd.endpoints] });
  t.teardown(() => kv.close());
  const leases = await Promise.all(Array.from({ length: 6 }, () => kv.grantLease(2)));
  const lost: string[] = [];
  for (const lease of leases) lease.onLost((r) => void lost.push(r));
  for (let round = 0; round < 6; round++) {
    for (const [name, call] of Object.entries(everyCall(kv, `${P}silent`))) {
      await t.resolves(call(), `${name}, round ${round}`);
    }
  }
  // each watch and each lease's keepalives go to one member: none may be stuck on the silent one
  for (let i = 0; i < 6; i++) {
    await t.resolves(kv.watch(P, 0, { onEvents: () => {}, onReset: () => {} }), `watch ${i} (left open)`);
  }
  await sleep(5_000); // over two TTLs of keepalives
  t.same(lost, [], 'no lease of TTL 2 s lost');
});

t.test('all members stopped: calls fail fast with the etcd error, leases are lost, watches reset; back, the same Kv works', async (t) => {
  const kv = await open(t);
  const lease = await kv.grantLease(2);
  await kv.txn([], [{ op: 'put', key: `${P}alive`, value: 'h', lease: lease.id }]);
  const lost: string[] = [];
  lease.onLost((r) => void lost.push(r));
  const resets: string[] = [];
  await kv.watch(P, 0, { onEvents: () => {}, onReset: (r) => void resets.push(r) });

  await Promise.all(etcd.members.map((_, i) => etcd.stop(i)));
  t.teardown(() => Promise.all(etcd.members.map((_, i) => etcd.start(i))));
  for (const [name, call] of Object.entries(everyCall(kv, `${P}all-down`))) {
    const started = Date.now();
    const err = await call().then(() => undefined, (e: unknown) => e);
    const took = Date.now() - started;
    t.type(err, ClusterUnreachableError, `${name} rejects with ClusterUnreachableError`);
    t.match((err as Error).message, /^etcd unreachable: no answer from http:\/\/127\.0\.0\.1:\d+,/, `${name}: ${(err as Error).message}`);
    t.notMatch((err as Error).message, /Resolution note|UNAVAILABLE|Last error/, `${name}: gRPC's wrapping trimmed`);
    t.ok(took <= ETCD_CALL_TIMEOUT_MS + 1_000, `${name} failed after ${took} ms`);
  }
  await waitFor('the watch to be reset', async () => resets.length > 0, 15_000);
  await waitFor('the lease to be reported lost', async () => lost.length > 0, 10_000);
  t.equal(lost.length, 1, `onLost fired once: ${lost[0]}`);

  await Promise.all(etcd.members.map((_, i) => etcd.start(i)));
  // breakers reopen within about a second: the same Kv answers again without being reopened
  await waitFor('the Kv to answer again', async () => kv.get(`${P}x`).then(() => true, () => false), 15_000);
  for (const [name, call] of Object.entries(everyCall(kv, `${P}back`))) await t.resolves(call(), `${name} works again`);
  const fresh = await kv.grantLease(5);
  t.ok((await kv.txn([], [{ op: 'put', key: `${P}alive`, value: 'h', lease: fresh.id }])).succeeded, 'a new lease takes the key again');
  await fresh.revoke();
});

t.test('a member too slow for a call, then answering again: the next call is answered (its open breaker never refuses a call alone)', async (t) => {
  // a Kv on one member: each attempt of a call goes to it, so one call that times out opens its breaker
  const kv = await openEtcdKv({ endpoints: [etcd.endpoints[0] as string] });
  t.teardown(() => kv.close());
  await kv.get(`${P}warm`);
  const pid = etcd.members[0]?.pid as number;
  t.teardown(() => void process.kill(pid, 'SIGCONT'));
  process.kill(pid, 'SIGSTOP'); // silent, as a member too loaded to answer within the deadline (a daemon's start on a busy machine)
  const err = await kv.get(`${P}frozen`).then(() => undefined, (e: unknown) => e);
  t.type(err, ClusterUnreachableError, `the call while frozen: ${(err as Error).message}`);
  process.kill(pid, 'SIGCONT');
  // before the fix: "etcd unreachable: … (each failed in the last second: …)", refused without asking for 1 s
  await t.resolves(kv.get(`${P}thawed`), 'the first call after the member answers again is answered');
  await t.resolves(kv.txn([], [{ op: 'put', key: `${P}thawed`, value: 'x' }]));
});

t.test('a watch from a compacted revision is reset', async (t) => {
  const kv = await open(t);
  const first = await kv.txn([], [{ op: 'put', key: `${P}c`, value: '1' }]);
  const last = await kv.txn([], [{ op: 'put', key: `${P}c`, value: '2' }]);
  const r = await etcd.etcdctl(['compact', String(last.revision)]);
  t.equal(r.exitCode, 0, r.stderr);
  const resets: string[] = [];
  const events: unknown[] = [];
  const watch = await kv.watch(P, first.revision, { onEvents: (e) => void events.push(...e), onReset: (r) => void resets.push(r) }).catch((e: unknown) => e);
  t.notOk(watch instanceof Error, `the watch call itself resolves: ${String(watch)}`);
  await waitFor('the reset', async () => resets.length === 1, 10_000);
  t.match(resets[0], /compact|cancel/);
  await sleep(200);
  t.same(events, [], 'no event from a compacted watch');
});

/** A CA, a member certificate for 127.0.0.1 and a client certificate, made with openssl in `dir`. */
async function makeCerts(dir: string): Promise<{ ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string }> {
  await mkdir(dir, { recursive: true });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await runOk('openssl', ['req', '-x509', ...key, '-keyout', `${dir}/ca.key`, '-out', `${dir}/ca.crt`, '-days', '1', '-subj', `/CN=${RUN_PREFIX}-ca`]);
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n'], ['client', 'extendedKeyUsage=clientAuth\n']] as const) {
    await writeFile(`${dir}/${name}.ext`, ext);
    await runOk('openssl', ['req', ...key, '-keyout', `${dir}/${name}.key`, '-out', `${dir}/${name}.csr`, '-subj', `/CN=${RUN_PREFIX}-${name}`]);
    await runOk('openssl', ['x509', '-req', '-in', `${dir}/${name}.csr`, '-CA', `${dir}/ca.crt`, '-CAkey', `${dir}/ca.key`, '-CAcreateserial',
      '-out', `${dir}/${name}.crt`, '-days', '1', '-extfile', `${dir}/${name}.ext`]);
  }
  return { ca: `${dir}/ca.crt`, serverCert: `${dir}/server.crt`, serverKey: `${dir}/server.key`, clientCert: `${dir}/client.crt`, clientKey: `${dir}/client.key` };
}

const hasOpenssl = (await run('openssl', ['version'])).exitCode === 0;

t.test('TLS: with the CA and a client certificate the Kv works; without them it fails with the etcd error', { skip: hasOpenssl ? false : 'no openssl' }, async (t) => {
  const dir = `${RUN_DIR}/etcd-kv-certs`;
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tls = await makeCerts(dir);
  const secure = await startEtcdCluster('kvtls', { members: 1, t, tls });
  t.match(secure.endpoints[0], /^https:\/\//);

  const kv = await openEtcdKv({ endpoints: secure.endpoints, ca: tls.ca, cert: tls.clientCert, key: tls.clientKey });
  t.teardown(() => kv.close());
  t.ok((await kv.txn([], [{ op: 'put', key: `${P}tls`, value: 'ok' }])).succeeded);
  t.equal((await kv.get(`${P}tls`))?.value, 'ok', 'read back over TLS');

  // a client certificate without the CA opens (the system's CAs, which do not hold this test's CA): the call fails, not the settings
  for (const [what, opts] of [['no TLS settings', {}], ['the CA but no client certificate', { ca: tls.ca }],
    ['a client certificate without the CA', { cert: tls.clientCert, key: tls.clientKey }]] as const) {
    const bare = await openEtcdKv({ endpoints: secure.endpoints, ...opts });
    t.teardown(() => bare.close());
    const err = await bare.get(`${P}tls`).then(() => undefined, (e: unknown) => e);
    t.type(err, ClusterUnreachableError, `${what}: ClusterUnreachableError`);
    t.match((err as Error).message, /^etcd unreachable: /, `${what}: ${(err as Error).message}`);
  }

  await t.rejects(openEtcdKv({ endpoints: secure.endpoints, ca: `${dir}/missing.crt` }), { name: 'ConfigError', message: /^OVSVLAN_ETCD_CA: cannot read / });
});
