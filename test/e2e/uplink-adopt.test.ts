// An uplink the operator attached by hand (docs/multi-host.md: the host's own
// VLAN 349 trunked on it, its address on an internal port) is adopted: the
// host's VLAN stays on the trunk while ovsvlan adds and removes its own, and
// the port is given back as it was when the last network goes.
import t from 'tap';
import { createHost } from '../helpers/host.js';
import { RUN_PREFIX } from '../helpers/run.js';

t.test('a hand-made uplink keeps its own VLANs and is given back', async (t) => {
  const host = await createHost('u', t);
  const bridge = `${RUN_PREFIX}br0`;
  const nic = `${RUN_PREFIX}up0`;
  await host.ovs.vsctl(['add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev']);
  await host.ns.ip(['link', 'add', nic, 'type', 'veth', 'peer', 'name', `${RUN_PREFIX}up1`]);
  await host.ns.ip(['link', 'set', nic, 'up']);
  await host.ovs.vsctl(['add-port', bridge, nic, 'trunks=349', '--', 'add-port', bridge, 'vlan349', 'tag=349',
    '--', 'set', 'interface', 'vlan349', 'type=internal']);
  await host.startPlugin({ bridge });
  const trunks = async (): Promise<string> => host.ovs.vsctl(['get', 'port', nic, 'trunks']);
  const marks = async (): Promise<string> => host.ovs.vsctl(['get', 'port', nic, 'external_ids']);

  const native = await host.docker(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=860', '--opt', `uplink=${nic}`, '--opt', 'native_vlan=349', 'n0']);
  t.not(native.exitCode, 0, 'native_vlan on a hand-made uplink is refused');
  t.match(native.stderr, /leaves its native VLAN alone; drop --opt native_vlan/);

  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=860', '--opt', `uplink=${nic}`, 'n860']);
  t.equal(await trunks(), '[349, 860]', 'the host VLAN stays, 860 is added');
  t.match(await marks(), /ovsvlan-base-trunks="349"/, 'what it carried before is remembered');
  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=861', 'n861']);
  t.equal(await trunks(), '[349, 860, 861]', 'a network on the bridge shares the uplink');

  // a restart of ovsvlan does not lose the host VLAN either
  await host.plugin!.stop();
  await host.plugin!.start();
  t.equal(await trunks(), '[349, 860, 861]', 'unchanged after reconciliation');

  await host.dockerOk(['network', 'rm', 'n860']);
  t.equal(await trunks(), '[349, 861]', 'the uplink stays while 861 is on the bridge');
  await host.dockerOk(['network', 'rm', 'n861']);
  t.equal(await host.ovs.vsctl(['port-to-br', nic]), bridge, 'the hand-made port is still on its bridge');
  t.equal(await trunks(), '[349]', 'with its own VLAN list');
  t.equal(await marks(), '{}', 'and no mark of ovsvlan');
  t.match(await host.ovs.vsctl(['list-br']), bridge, 'the hand-made bridge is left alone');
});
