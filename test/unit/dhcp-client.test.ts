// UdhcpcClient's file side without udhcpc (src/dhcp/client.ts): a missing
// directory is no client and is not made by a read; a pidfile naming a
// process that is not that endpoint's udhcpc (a reused PID: here this test's
// own process) is neither listed nor signalled; the hook's lease file is what
// leaseOf reads; an endpoint ID that is no ID never names a file.
import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { UdhcpcClient } from '../../src/dhcp/client.js';
import { writeLeaseFile } from '../../src/dhcp/lease.js';

const EP = 'ab'.repeat(32);
const quiet = pino({ level: 'silent' });

t.test('a state directory that does not exist: no clients, no lease, and it is not made', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'dhcp-client-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dir = join(base, 'dhcp');
  const client = new UdhcpcClient({ dir, logger: quiet });
  t.same([...client.running()], []);
  t.equal(client.leaseOf(EP), undefined);
  t.notOk(existsSync(dir), 'status reads without writing');
});

t.test('a pidfile naming another process (a reused PID) is not a client: not listed, not signalled', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dhcp-client-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, `${EP}.pid`), `${process.pid}\n`);
  await writeFile(join(dir, `${'cd'.repeat(32)}.pid`), '999999999\n');
  const client = new UdhcpcClient({ dir, logger: quiet });
  t.same([...client.running()], [], 'neither this process nor a dead PID');
  let signalled = false;
  const onSignal = (): void => {
    signalled = true;
  };
  process.on('SIGTERM', onSignal);
  t.teardown(() => process.off('SIGTERM', onSignal));
  await client.stopRenewal(EP, true);
  t.notOk(signalled, 'this process got no signal');
  t.same(await readdir(dir), [`${'cd'.repeat(32)}.pid`], 'the endpoint\'s stale pidfile is removed');
});

t.test('leaseOf reads the lease file the hook wrote', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dhcp-client-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const lease = { address: '10.87.0.23/24', router: '10.87.0.1', serverId: '10.87.0.1', leaseS: 120, at: 7 };
  await writeLeaseFile(join(dir, `${EP}.lease.json`), lease);
  t.same(new UdhcpcClient({ dir, logger: quiet }).leaseOf(EP), lease);
});

t.test('an endpoint ID that is no ID names no file', async (t) => {
  const client = new UdhcpcClient({ dir: '/nonexistent', logger: quiet });
  t.throws(() => client.leaseOf('../../etc/passwd'), { name: 'DhcpError', message: /not an endpoint ID/ });
  await t.rejects(client.stopRenewal('a/b', false), { name: 'DhcpError' });
});

t.test('a lease is never given back from the daemon\'s or the host\'s namespace (the address would be put there)', async (t) => {
  const client = new UdhcpcClient({ dir: '/nonexistent', logger: quiet });
  const req = { ifname: 'lo', identity: { mac: '02:00:00:00:00:01', clientId: '01020000000001', hostname: undefined }, address: '10.0.0.1/24', timeoutS: 1 };
  for (const netns of ['/proc/self/ns/net', '/proc/1/ns/net']) {
    // refused as the same namespace, or as no file where PID 1's namespace cannot be read
    await t.rejects(client.releaseLease({ ...req, netns }), { name: 'DhcpError', message: /network namespace: refused|no netns file/ }, netns);
  }
  await t.rejects(client.releaseLease({ ...req, netns: '/nonexistent/ns' }), { name: 'DhcpError', message: /no netns file/ });
  t.notOk(existsSync('/nonexistent'), 'nothing made');
});
