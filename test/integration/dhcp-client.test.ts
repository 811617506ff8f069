// The DHCP client module (src/dhcp/) against a real dnsmasq, without Docker:
// a server netns (a Linux bridge with dnsmasq on it), a "host" netns standing
// for the daemon's own namespace (the first lease is taken there, through
// busybox nsenter, and nothing may be configured in it), and "container"
// netns into which the client ends are moved for the renewal clients, as
// Docker moves a container's interface after Join.
// Shows: a first lease from the range with nothing configured in the host
// netns; the same MAC gets the same address, another MAC another; a
// reservation honoured; a lease outside dhcp_subnet and no server at all are
// DhcpErrors with no process left; the renewal client renews (dnsmasq's
// expiry moves, lease time 120 s, T1 60 s) and sends the hostname; a changed
// address is applied inside the container netns; kill -9 of the node process
// that started a renewal client leaves the client running and a new client
// module adopts it; stop without release keeps the lease, with release the
// server drops it; a kept lease is given back later from a throwaway netns.
// The renewal clients' output (udhcpc's and the hook's) is in <endpoint>.log.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { execa } from 'execa';
import { pino } from 'pino';
import { UdhcpcClient } from '../../src/dhcp/client.js';
import { clientIdOf } from '../../src/dhcp/argv.js';
import type { DhcpIdentity, FirstLeaseRequest, Lease } from '../../src/dhcp/types.js';
import { startDnsmasq, udhcpcPids, type Dnsmasq } from '../helpers/dnsmasq.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { REPO_ROOT } from '../helpers/plugin.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, pidAlive, waitFor } from '../helpers/run.js';

const P = RUN_PREFIX;
const HOOK_MODULE = `${REPO_ROOT}dist/dhcp/hook.js`;
const HOOK_SCRIPT = `${REPO_ROOT}scripts/udhcpc-hook`;
const STATE = `${RUN_DIR}/dhcp-client-state`;
const SEGMENT = 'VLAN 870';

const identityOf = (mac: string, hostname?: string): DhcpIdentity => ({ mac, clientId: clientIdOf(mac), hostname });
const MAC_A = '02:87:00:00:00:0a';
const MAC_B = '02:87:00:00:00:0b';
const MAC_R = '02:87:00:00:00:77'; // reserved: 10.87.0.77
const EP1 = `${'e1'.repeat(32)}`;
const EP2 = `${'e2'.repeat(32)}`;
const EP3 = `${'e3'.repeat(32)}`;

/** The IPv4 addresses (address/prefix) in netns `ns`, every interface but lo. */
async function addressesIn(ns: Netns): Promise<string[]> {
  const links = JSON.parse(await ns.ip(['-j', '-4', 'addr', 'show'])) as Array<{ ifname: string; addr_info: Array<{ local: string; prefixlen: number }> }>;
  return links.filter((l) => l.ifname !== 'lo').flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
}

const inRange = (address: string): boolean => {
  const m = /^10\.87\.0\.(\d+)\/24$/.exec(address);
  return m !== null && Number(m[1]) >= 100 && Number(m[1]) <= 150;
};

t.test('the DHCP client against a real dnsmasq', async (t) => {
  if (!existsSync(HOOK_MODULE)) throw new Error(`${HOOK_MODULE} is missing: run npm run build first`);
  await ensureRunDir();
  const made: Netns[] = [];
  const netns = async (name: string): Promise<Netns> => {
    const ns = await createNetns(`${P}-${name}`);
    made.push(ns);
    return ns;
  };
  let dnsmasq: Dnsmasq | undefined;
  t.teardown(async () => {
    for (const pid of udhcpcPids(STATE)) process.kill(pid, 'SIGKILL'); // only clients of this run's state directory
    await dnsmasq?.stop();
    for (const ns of made) await ns.remove();
    await rm(STATE, { recursive: true, force: true });
  });

  const srv = await netns('dsrv');
  const host = await netns('dhost');
  await srv.ip(['link', 'add', `${P}br`, 'type', 'bridge']);
  await srv.ip(['addr', 'add', '10.87.0.1/24', 'dev', `${P}br`]);
  await srv.ip(['link', 'set', `${P}br`, 'up']);
  /** A veth whose server end is on the bridge and whose client end (with `mac`, up) is in the host netns. */
  const attach = async (n: number, mac: string): Promise<string> => {
    const client = `${P}c${n}`;
    await srv.ip(['link', 'add', `${P}s${n}`, 'type', 'veth', 'peer', 'name', client, 'netns', host.name]);
    await srv.ip(['link', 'set', `${P}s${n}`, 'master', `${P}br`, 'up']);
    await host.ip(['link', 'set', client, 'address', mac, 'up']);
    return client;
  };
  dnsmasq = await startDnsmasq({
    name: `${P}-dhcp`, netns: srv.name, ifname: `${P}br`,
    range: { from: '10.87.0.100', to: '10.87.0.150', mask: '255.255.255.0' },
    leaseS: 120, router: '10.87.0.1', hosts: [{ mac: MAC_R, ip: '10.87.0.77' }],
  });
  const server = dnsmasq;
  const client = new UdhcpcClient({ dir: STATE, logger: pino({ level: 'silent' }), hookScript: HOOK_SCRIPT, hookModule: HOOK_MODULE });
  const first = (ifname: string, identity: DhcpIdentity, more: Partial<FirstLeaseRequest> = {}): Promise<Lease> =>
    client.firstLease({ ifname, identity, requested: undefined, timeoutS: 10, segment: SEGMENT, netns: `/run/netns/${host.name}`, ...more });

  const c1 = await attach(1, MAC_A);
  const c2 = await attach(2, MAC_B);
  const c3 = await attach(3, MAC_R);
  let leaseA: Lease | undefined;

  await t.test('first lease: from the range, with the router; nothing configured in the host netns', async (t) => {
    leaseA = await first(c1, identityOf(MAC_A), { subnet: '10.87.0.0/24' });
    t.ok(inRange(leaseA.address), `${leaseA.address} from the range`);
    t.equal(leaseA.router, '10.87.0.1');
    t.equal(leaseA.serverId, '10.87.0.1');
    t.equal(leaseA.leaseS, 120);
    const held = await server.leaseOf(MAC_A);
    t.equal(held?.ip, leaseA.address.split('/')[0], 'dnsmasq holds it for the MAC');
    t.equal(held?.clientId, '01:02:87:00:00:00:0a', 'with the client identifier 01 + MAC');
    t.same(await addressesIn(host), [], 'no address in the host netns');
    t.equal(await host.ip(['-4', 'route', 'show']), '', 'no route in the host netns');
    t.same(readdirSync(STATE), [], 'the first lease\'s report file is gone');
    t.same(udhcpcPids(c1), [], 'no udhcpc left');
  });

  await t.test('the same MAC gets the same address back; another MAC another', async (t) => {
    const again = await first(c1, identityOf(MAC_A));
    t.equal(again.address, leaseA?.address);
    const other = await first(c2, identityOf(MAC_B));
    t.ok(inRange(other.address), other.address);
    t.not(other.address, leaseA?.address);
  });

  await t.test('a reservation by MAC on the server is honoured', async (t) => {
    t.equal((await first(c3, identityOf(MAC_R))).address, '10.87.0.77/24');
  });

  await t.test('a lease outside dhcp_subnet is refused naming it, carrying the lease to give back; no process left', async (t) => {
    await t.rejects(first(c2, identityOf(MAC_B), { subnet: '192.0.2.0/24' }), {
      name: 'LeaseRefusedError',
      message: /on VLAN 870 \(10\.87\.0\.1\) leased 10\.87\.0\.\d+\/24, outside dhcp_subnet 192\.0\.2\.0\/24/,
      address: /^10\.87\.0\.\d+\/24$/,
    });
    t.same(udhcpcPids(c2), []);
  });

  await t.test('no server: DhcpError naming the bound, within it, and no process left', async (t) => {
    const lone = `${P}n1`;
    await host.ip(['link', 'add', lone, 'type', 'veth', 'peer', 'name', `${P}n2`]);
    await host.ip(['link', 'set', `${P}n2`, 'up']);
    await host.ip(['link', 'set', lone, 'address', '02:87:00:00:00:99', 'up']);
    const started = Date.now();
    await t.rejects(first(lone, identityOf('02:87:00:00:00:99'), { timeoutS: 3 }), {
      name: 'DhcpError',
      message: 'no DHCP server answered on VLAN 870 within 3 s (dhcp_timeout)',
    });
    // a loose upper bound (3 s bound, 1 s grace, then kill): the call does not wait past its bound
    t.ok(Date.now() - started < 15_000, `failed after ${Date.now() - started} ms`);
    t.same(udhcpcPids(lone), [], 'no udhcpc left');
    t.same(await addressesIn(host), [], 'still nothing configured in the host netns');
  });

  /** Moves a client end into a new "container" netns as eth0 with `address`, as Docker does after Join. */
  const intoContainer = async (name: string, ifname: string, address: string): Promise<Netns> => {
    const ctr = await netns(name);
    await host.ip(['link', 'set', ifname, 'netns', ctr.name]);
    await ctr.ip(['link', 'set', ifname, 'name', 'eth0']);
    await ctr.ip(['addr', 'add', address, 'dev', 'eth0']);
    await ctr.ip(['link', 'set', 'eth0', 'up']);
    await ctr.ip(['route', 'add', 'default', 'via', '10.87.0.1']);
    return ctr;
  };

  await t.test('renewal client in the container netns: hostname sent, lease renewed, address kept', async (t) => {
    const address = leaseA?.address as string;
    const ctr = await intoContainer('dctr1', c1, address);
    await client.startRenewal({
      endpointId: EP1, sandboxKey: `/run/netns/${ctr.name}`, identity: identityOf(MAC_A, 'web1'),
      address: address.split('/')[0] as string, gateway: 'server',
    });
    t.ok(client.running().has(EP1), 'running() lists it');
    const bound = await waitFor('the renewal client\'s first lease', async () => client.leaseOf(EP1), 30_000);
    t.equal(bound.address, address, 'the same address');
    const held = await waitFor('the hostname at the server', async () => {
      const l = await server.leaseOf(MAC_A);
      return l?.hostname === 'web1' && l;
    }, 30_000);
    // T1 is half the 120 s lease: a renewal within 150 s moves the expiry past the one of the bind
    const renewed = await waitFor('a renewal at the server', async () => {
      const l = await server.leaseOf(MAC_A);
      return l !== undefined && l.expiry > held.expiry && l;
    }, 150_000);
    t.equal(renewed.ip, address.split('/')[0], 'renewed for the same address');
    const rewritten = await waitFor('the hook to write the renewal', async () => {
      const l = client.leaseOf(EP1);
      return l !== undefined && l.at > bound.at && l;
    }, 30_000);
    t.equal(rewritten.address, address, 'the renewed lease, written by the hook');
    t.same(await addressesIn(ctr), [address], 'the container kept its address');
    t.match(readFileSync(`${STATE}/${EP1}.log`, 'utf8'), new RegExp(`lease of ${address.split('/')[0]?.replace(/\./g, '\\.')} obtained`),
      'what udhcpc did is in the endpoint\'s log');
  });

  await t.test('kill -9 of the process that started a renewal client: it keeps running and is adopted', async (t) => {
    const other = await first(c2, identityOf(MAC_B));
    const ctr = await intoContainer('dctr2', c2, other.address);
    const renewal = {
      endpointId: EP2, sandboxKey: `/run/netns/${ctr.name}`, identity: identityOf(MAC_B, 'web2'),
      address: other.address.split('/')[0], gateway: 'none',
    };
    const script = [
      `import { UdhcpcClient } from ${JSON.stringify(`${REPO_ROOT}dist/dhcp/client.js`)};`,
      'const quiet = { info() {}, warn() {} };',
      `const c = new UdhcpcClient({ dir: ${JSON.stringify(STATE)}, logger: quiet, hookScript: ${JSON.stringify(HOOK_SCRIPT)} });`,
      'await c.startRenewal(JSON.parse(process.argv[1]));',
      'process.stdout.write("started\\n");',
      'setInterval(() => {}, 60_000);',
    ].join('\n');
    const starter = execa(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(renewal)], { reject: false, timeout: 120_000 });
    let said = '';
    starter.stdout?.on('data', (chunk: Buffer) => {
      said += chunk.toString();
    });
    await waitFor('the starter to start the client', async () => said.includes('started') || undefined, 60_000)
      .catch(async (err: unknown) => {
        starter.kill('SIGKILL');
        throw new Error(`${String(err)}: ${String((await starter).stderr)}`);
      });
    const pid = client.running().get(EP2) as number;
    t.ok(pid, 'the renewal client runs');
    starter.kill('SIGKILL');
    await starter;
    t.ok(pidAlive(pid), 'still running after kill -9 of the node process that started it');
    const adopter = new UdhcpcClient({ dir: STATE, logger: pino({ level: 'silent' }), hookScript: HOOK_SCRIPT, hookModule: HOOK_MODULE });
    t.equal(adopter.running().get(EP2), pid, 'a new client module finds it');
    await adopter.startRenewal({ ...renewal, address: renewal.address as string, gateway: 'none' });
    t.same(udhcpcPids(`${EP2}.pid`), [pid], 'adopted: no second client');
    t.equal((await waitFor('its lease file', async () => adopter.leaseOf(EP2), 30_000)).address, other.address);
  });

  await t.test('a different address from the server is applied inside the container netns only', async (t) => {
    // the container holds .200; the server has MAC_R reserved at .77 and hands that back
    const ctr = await intoContainer('dctr3', c3, '10.87.0.200/24');
    await client.startRenewal({
      endpointId: EP3, sandboxKey: `/run/netns/${ctr.name}`, identity: identityOf(MAC_R), address: '10.87.0.200', gateway: 'server',
    });
    await waitFor('the new address on eth0', async () => (await addressesIn(ctr)).join() === '10.87.0.77/24' || undefined, 30_000);
    t.equal(await ctr.ip(['-4', 'route', 'show', 'default']), 'default via 10.87.0.1 dev eth0', 'default route via the server\'s router');
    t.equal(client.leaseOf(EP3)?.address, '10.87.0.77/24');
    t.match(readFileSync(`${STATE}/${EP3}.log`, 'utf8'), 'ovsvlan dhcp hook: eth0 now has 10.87.0.77/24', 'the change is in the endpoint\'s log');
    t.same(await addressesIn(host), [], 'nothing in the host netns');
  });

  await t.test('stop without release keeps the lease at the server; with release it is dropped', async (t) => {
    const pid1 = client.running().get(EP1) as number;
    await client.stopRenewal(EP1, false);
    t.notOk(pidAlive(pid1), 'stopped');
    t.notOk(client.running().has(EP1));
    t.equal(client.leaseOf(EP1), undefined, 'its files are removed');
    t.ok(await server.leaseOf(MAC_A), 'dnsmasq still holds the lease');

    const pid2 = client.running().get(EP2) as number;
    await client.stopRenewal(EP2, true);
    t.notOk(pidAlive(pid2), 'stopped (a client adopted from another process)');
    await waitFor('dnsmasq to drop the released lease', async () => (await server.leaseOf(MAC_B)) === undefined || undefined, 15_000)
      .catch((err: unknown) => {
        t.comment(readFileSync(server.logFile, 'utf8').split('\n').filter((l) => l.includes(MAC_B)).slice(-12).join('\n'));
        throw err;
      });
    t.pass('released');

    await client.stopRenewal(EP3, true);
    await client.stopRenewal(EP3, true);
    t.pass('a client already gone is success');
    t.same(udhcpcPids(STATE), [], 'no client left');
    t.same(readdirSync(STATE), [], 'no file left');
  });

  await t.test('a kept lease given back later from a throwaway netns; never from the daemon\'s own', async (t) => {
    await t.rejects(
      client.releaseLease({ netns: '/proc/self/ns/net', ifname: 'lo', identity: identityOf(MAC_A), address: leaseA?.address as string, timeoutS: 3 }),
      { name: 'DhcpError', message: /the daemon's own network namespace: refused/ },
    );
    // the container is gone (its netns and interface with it); an interface of the segment with its MAC, in a netns of its own
    await made.find((ns) => ns.name === `${P}-dctr1`)?.remove();
    const spare = await attach(4, MAC_A);
    const scratch = await netns('drel');
    await host.ip(['link', 'set', spare, 'netns', scratch.name]);
    await scratch.ip(['link', 'set', spare, 'up']);
    const released = await client.releaseLease({
      netns: `/run/netns/${scratch.name}`, ifname: spare, identity: identityOf(MAC_A), address: leaseA?.address as string, timeoutS: 5,
    });
    t.equal(released, true);
    await waitFor('dnsmasq to drop the released lease', async () => (await server.leaseOf(MAC_A)) === undefined || undefined, 15_000);
    t.pass('dnsmasq no longer holds it');
    t.same(await addressesIn(host), [], 'nothing in the host netns');
    t.same(udhcpcPids(spare), [], 'no udhcpc left');
  });
});
