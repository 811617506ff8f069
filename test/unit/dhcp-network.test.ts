// CreateNetwork of a DHCP network (src/driver/network.ts with dhcp-options.ts):
// a request that contradicts dhcp=on is refused before anything is touched
// (the driver context is a Proxy that throws on any other member), and in
// cluster mode a DHCP network from the null IPAM is let through to the
// definition's join instead of being refused as a foreign IPAM's; a daemon
// that lacks what the DHCP client needs refuses dhcp=on saying what and why.
import t, { type Test } from 'tap';
import { pino } from 'pino';
import type { DriverContext } from '../../src/driver/context.js';
import { createNetwork } from '../../src/driver/network.js';
import { InvalidOptionError } from '../../src/errors.js';
import { IpamDriver } from '../../src/ipam/driver.js';
import { parsePrefix } from '../../src/ipam/address.js';
import { KeyedMutex } from '../../src/lock.js';
import type { CreateNetworkReq } from '../../src/protocol/types.js';
import { tempState } from '../helpers/temp-state.js';

const NULL_POOL = { addressSpace: 'null', pool: '0.0.0.0/0', gateway: undefined, aux: {} };
const req = (over: Partial<CreateNetworkReq>): CreateNetworkReq =>
  ({ networkId: 'a'.repeat(64), generic: { vlan: '870', dhcp: 'on' }, internal: false, ipv4: [NULL_POOL], ipv6: [], ...over });

/**
 * A driver context holding only what CreateNetwork may use before the join (or the refusal); `cluster`: cluster mode, its join recorded;
 * `problems`: what the DHCP client says the daemon lacks.
 */
async function driver(t: Test, cluster: boolean, problems: string[] = []) {
  const state = await tempState(t, 'dhcp-network');
  const log = pino({ level: 'silent' });
  const locks = new KeyedMutex();
  const joins: string[] = [];
  const joined = new Error('joined (the test stops here)');
  const given: Partial<DriverContext> = {
    state, locks, log, defaultBridge: 'ovs0',
    dhcp: { problems: () => problems } as unknown as DriverContext['dhcp'],
    ipam: new IpamDriver({ state, locks, log, defaults: { v4: { base: parsePrefix('10.200.0.0/16')!, bits: 24 }, v6: { base: parsePrefix('fd00::/48')!, bits: 64 } } }),
    vswitch: { getBridge: async () => ({ name: 'ovs0' }) } as unknown as DriverContext['vswitch'],
    // local mode: the member is there, undefined (a Proxy miss would throw)
    cluster: cluster ? {
      underlayIp: '192.0.2.1', underlayMtu: 1500, kickMesh: () => undefined,
      networks: { join: async (spec) => { joins.push(spec.ident); throw joined; }, leave: async () => undefined, get: async () => undefined, check: async () => undefined },
    } : undefined,
  };
  const ctx = new Proxy(given, {
    get: (target, prop) => {
      if (prop in target) return target[prop as keyof typeof target];
      throw new Error(`CreateNetwork touched ${String(prop)}`);
    },
  }) as DriverContext;
  return { ctx, state, joins, joined };
}

t.test('a request that contradicts dhcp=on is refused, nothing touched or recorded', async (t) => {
  const { ctx, state } = await driver(t, false);
  const refused: Array<[string, Partial<CreateNetworkReq>, RegExp]> = [
    ['Docker\'s default IPAM', { ipv4: [{ addressSpace: 'LocalDefault', pool: '10.87.0.0/24', gateway: '10.87.0.1/24', aux: {} }] }, /needs --ipam-driver null/],
    ['--ipv6', { ipv6: [{ addressSpace: 'null', pool: '::/0', gateway: undefined, aux: {} }] }, /DHCPv6 is not supported/],
    ['--internal, gateway from the server', { internal: true }, /contradicts --internal/],
    ['dhcp_gateway without dhcp=on', { generic: { vlan: '870', dhcp_gateway: 'none' } }, /needs -o dhcp=on/],
  ];
  for (const [name, over, message] of refused) {
    const err = await createNetwork(ctx, req(over)).catch((e: unknown) => e);
    t.ok(err instanceof InvalidOptionError, `${name}: InvalidOptionError`);
    t.match((err as Error).message, message, name);
  }
  t.same(state.networks(), [], 'no network record');
});

t.test('cluster mode: a DHCP network from the null IPAM reaches the join (the server coordinates its addresses)', async (t) => {
  const { ctx, joins, joined } = await driver(t, true);
  await t.rejects(createNetwork(ctx, req({})), joined, 'not refused as a foreign IPAM\'s network');
  t.same(joins, ['vlan.870'], 'the definition is joined');
  const err = await createNetwork(ctx, req({ networkId: 'b'.repeat(64), ipv4: [{ addressSpace: 'LocalDefault', pool: '10.87.0.0/24', gateway: undefined, aux: {} }] }))
    .catch((e: unknown) => e);
  t.match((err as Error).message, /needs --ipam-driver null/, 'dhcp=on with another IPAM: the DHCP refusal, before the join');
  t.same(joins, ['vlan.870'], 'no second join');
});

t.test('a daemon that cannot run the DHCP client (no CAP_SYS_ADMIN, no busybox): dhcp=on refused saying why, nothing recorded', async (t) => {
  const lacks = ['the daemon has no CAP_SYS_ADMIN, which entering a container\'s network namespace (setns) for the renewal client needs'];
  const { ctx, state, joins } = await driver(t, true, lacks);
  const err = await createNetwork(ctx, req({})).catch((e: unknown) => e);
  t.ok(err instanceof InvalidOptionError, 'InvalidOptionError');
  t.match((err as Error).message, /^dhcp=on cannot work with this ovsvlan daemon: the daemon has no CAP_SYS_ADMIN.*; nothing was made$/);
  t.same(joins, [], 'no definition joined');
  t.same(state.networks(), [], 'no network record');
  const plain = await createNetwork(ctx, req({ generic: { vlan: '870' }, ipv4: [{ addressSpace: 'LocalDefault', pool: '10.87.0.0/24', gateway: undefined, aux: {} }] }))
    .catch((e: unknown) => e);
  t.notMatch(String(plain), /dhcp=on cannot work/, 'a network without dhcp=on is not asked');
});
