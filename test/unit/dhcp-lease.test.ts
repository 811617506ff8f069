// Leases as the udhcpc hook reads them from udhcpc's environment and as
// their files hold them (src/dhcp/lease.ts): masks, routers, bad values, the
// subnet check, and the atomic file write read back.
import t from 'tap';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leaseFromEnv, parseLease, prefixOfMask, readLeaseFile, writeLeaseFile } from '../../src/dhcp/lease.js';
import { inSubnet } from '../../src/ipam/address.js';

t.test('netmasks to prefix lengths; a non-contiguous one is none', async (t) => {
  t.equal(prefixOfMask('255.255.255.0'), 24);
  t.equal(prefixOfMask('255.255.240.0'), 20);
  t.equal(prefixOfMask('255.255.255.255'), 32);
  t.equal(prefixOfMask('0.0.0.0'), 0);
  t.equal(prefixOfMask('255.0.255.0'), undefined);
  t.equal(prefixOfMask('255.255.255'), undefined);
});

t.test('udhcpc\'s bound environment makes a lease', async (t) => {
  const env = { ip: '10.87.0.23', mask: '24', subnet: '255.255.255.0', router: '10.87.0.1 10.87.0.2', serverid: '10.87.0.1', lease: '120' };
  t.same(leaseFromEnv(env, 1000), { address: '10.87.0.23/24', router: '10.87.0.1', serverId: '10.87.0.1', leaseS: 120, at: 1000 });
});

t.test('without mask the subnet gives the prefix; no router or server id stays undefined', async (t) => {
  const lease = leaseFromEnv({ ip: '192.0.2.9', subnet: '255.255.255.128', lease: '3600' }, 5);
  t.same(lease, { address: '192.0.2.9/25', router: undefined, serverId: undefined, leaseS: 3600, at: 5 });
});

t.test('no lease from an environment without a usable ip or mask', async (t) => {
  t.equal(leaseFromEnv({}, 0), undefined, 'deconfig: nothing');
  t.equal(leaseFromEnv({ ip: '10.0.0.300', mask: '24' }, 0), undefined);
  t.equal(leaseFromEnv({ ip: '10.0.0.3', subnet: '255.0.255.0' }, 0), undefined);
  t.equal(leaseFromEnv({ ip: '10.0.0.3; rm -rf /', mask: '24' }, 0), undefined);
});

t.test('addresses in and out of a subnet', async (t) => {
  t.ok(inSubnet('10.87.0.23/24', '10.87.0.0/24'));
  t.ok(inSubnet('10.87.0.23', '10.87.0.0/16'));
  t.ok(inSubnet('10.87.0.23', '0.0.0.0/0'));
  t.notOk(inSubnet('10.87.1.23', '10.87.0.0/24'));
  t.notOk(inSubnet('10.87.0.23', 'nonsense'));
});

t.test('a lease file is written whole and read back; a bad file reads as none', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dhcp-lease-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'ep.lease.json');
  const lease = { address: '10.87.0.23/24', router: '10.87.0.1', serverId: '10.87.0.1', leaseS: 120, at: 42 };
  await writeLeaseFile(path, lease);
  t.same(readLeaseFile(path), lease);
  t.same(await readdir(dir), ['ep.lease.json'], 'no temporary file left');
  await writeLeaseFile(path, { ...lease, address: '10.87.0.24/24', router: undefined });
  t.same(readLeaseFile(path), { ...lease, address: '10.87.0.24/24', router: undefined }, 'replaced; no router kept');
  t.equal(readLeaseFile(join(dir, 'missing.json')), undefined);
  await writeFile(path, '{"address":"10.87.0.23/24"');
  t.equal(readLeaseFile(path), undefined, 'torn JSON');
  t.equal(parseLease('{"address":"x/24","leaseS":1,"at":1}'), undefined, 'not an address');
  t.equal(parseLease('{"address":"10.0.0.1/24","router":"evil","leaseS":1,"at":1}'), undefined, 'a router that is no address');
  t.equal(parseLease('null'), undefined);
});
