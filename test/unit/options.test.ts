// Network options: every bad value fails with a message naming the option and
// what it accepts; good ones become a typed spec.
import t from 'tap';
import { parseNetworkOptions, DEFAULT_MTU } from '../../src/driver/options.js';
import { InvalidOptionError } from '../../src/errors.js';

const parse = (o: Record<string, unknown>) => parseNetworkOptions(o, 'ovs0');

t.test('valid options', async (t) => {
  t.same(parse({ vlan: '860' }), { vlan: 860, bridge: 'ovs0', mtu: DEFAULT_MTU });
  t.same(parse({ vlan: '1', bridge: 'br-int.2', mtu: '1400' }), { vlan: 1, bridge: 'br-int.2', mtu: 1400 });
  t.same(parse({ vlan: '4094', 'com.docker.network.driver.mtu': '9000' }), { vlan: 4094, bridge: 'ovs0', mtu: 9000 });
  t.same(parse({ vlan: '5', mtu: '1450', 'com.docker.network.driver.mtu': '1450' }).mtu, 1450);
});

const bad: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ['missing vlan', {}, 'vlan', /option "vlan" is required: a VLAN ID from 1 to 4094/],
  ['vlan 0', { vlan: '0' }, 'vlan', /invalid vlan "0": must be a VLAN ID from 1 to 4094/],
  ['vlan 4095', { vlan: '4095' }, 'vlan', /invalid vlan "4095"/],
  ['vlan not a number', { vlan: 'abc' }, 'vlan', /invalid vlan "abc"/],
  ['vlan with sign', { vlan: '-5' }, 'vlan', /invalid vlan "-5"/],
  ['vlan hex', { vlan: '0x10' }, 'vlan', /invalid vlan/],
  ['unknown option', { vlan: '860', vni: '5' }, 'vni', /unknown option "vni"; ovsvlan network options are: vlan, bridge, mtu/],
  ['bridge too long', { vlan: '860', bridge: 'abcdefghijklmnop' }, 'bridge', /invalid bridge "abcdefghijklmnop": must be an OVS bridge name of 1-15/],
  ['bridge odd chars', { vlan: '860', bridge: 'br;rm' }, 'bridge', /invalid bridge "br;rm"/],
  ['bridge with slash', { vlan: '860', bridge: 'a/b' }, 'bridge', /invalid bridge/],
  ['empty bridge', { vlan: '860', bridge: '' }, 'bridge', /invalid bridge ""/],
  ['mtu too small', { vlan: '860', mtu: '67' }, 'mtu', /invalid mtu "67": must be an MTU from 68 to 65535/],
  ['mtu too big', { vlan: '860', mtu: '70000' }, 'mtu', /invalid mtu "70000"/],
  ['docker mtu bad', { vlan: '860', 'com.docker.network.driver.mtu': 'x' }, 'com.docker.network.driver.mtu', /invalid com.docker.network.driver.mtu "x"/],
  ['mtus disagree', { vlan: '860', mtu: '1400', 'com.docker.network.driver.mtu': '1500' }, 'mtu', /disagree/],
];

for (const [name, opts, option, message] of bad) {
  t.test(name, async (t) => {
    const err = t.throws(() => parse(opts)) as unknown;
    t.ok(err instanceof InvalidOptionError, 'InvalidOptionError');
    t.equal((err as InvalidOptionError).option, option, 'names the option');
    t.match((err as Error).message, message);
  });
}
