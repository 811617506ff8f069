// Review finding 2: making or removing a network with a host_ip refreshes the
// filter of every other network's host port (link/harden.ts fenceHostPort). A
// failure on another network's port is that network's business: logged and
// left to reconciliation, it must not fail this network's CreateNetwork (which
// would roll it back) nor its DeleteNetwork (which would stop after the record
// is gone, leaving its bridge). The failure is made for real: an `ingress`
// qdisc on hi1's host port, which the kernel will not replace with the
// `clsact` the filter needs.
import t from 'tap';
import { createHost } from '../helpers/host.js';
import { logRecords } from '../helpers/faults.js';
import { RUN_PREFIX } from '../helpers/run.js';
import { ownedPorts } from '../helpers/traffic.js';

t.test('another network\'s host port that cannot be fenced fails neither create nor delete', async (t) => {
  const host = await createHost('hf', t);
  await host.startPlugin();
  const ipam = (n: number): string[] => ['--ipam-driver', 'ovsvlan', '--subnet', `10.7${n}.0.0/24`, '--gateway', `10.7${n}.0.1`];
  await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=801', '--opt', 'host_ip=10.71.0.254/24', ...ipam(1), 'hf1']);
  const net1 = await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'hf1']);
  const port1 = (await ownedPorts(host)).find((p) => p.externalIds['ovsvlan-role'] === 'host' && p.externalIds['ovsvlan-network'] === net1)?.name;
  if (!port1) throw new Error('the host_ip port of hf1 is missing');
  // hf1's port now refuses the filter: its clsact swapped for an ingress qdisc
  await host.ns.execOk('tc', ['qdisc', 'del', 'dev', port1, 'clsact']);
  await host.ns.execOk('tc', ['qdisc', 'add', 'dev', port1, 'ingress']);

  const bridge2 = `${RUN_PREFIX}f2`;
  const create = await host.docker(['network', 'create', '-d', 'ovsvlan', '--opt', 'vlan=802', '--opt', `bridge=${bridge2}`,
    '--opt', 'host_ip=10.72.0.254/24', ...ipam(2), 'hf2']);
  t.equal(create.exitCode, 0, `hf2 is created although hf1's port cannot be fenced (${create.stderr.trim()})`);
  const net2 = await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'hf2']);
  const port2 = (await ownedPorts(host)).find((p) => p.externalIds['ovsvlan-role'] === 'host' && p.externalIds['ovsvlan-network'] === net2)?.name;
  t.ok(port2, 'hf2 has its host port');
  t.match(await host.ns.execOk('tc', ['filter', 'show', 'dev', port2 ?? 'none', 'ingress']), /pref 1 bpf/, 'and its own filter');

  const rm = await host.docker(['network', 'rm', 'hf2']);
  t.equal(rm.exitCode, 0, `hf2 is removed although hf1's port cannot be fenced (${rm.stderr.trim()})`);
  t.notOk((await ownedPorts(host)).some((p) => p.externalIds['ovsvlan-network'] === net2), 'no port of hf2 is left');
  t.notOk((await host.ovs.vsctl(['list-br'])).split('\n').includes(bridge2), `hf2's bridge ${bridge2} is gone with it`);
  t.notOk(Object.keys((await host.plugin?.readState())?.networks ?? {}).includes(net2), 'hf2\'s record is gone');
  const warned = (await logRecords(host.plugin?.logFile ?? '')).filter((r) => r.msg === 'host port filter not refreshed; reconciliation retries');
  t.ok(warned.some((r) => r['port'] === port1), `the daemon logged that ${port1}'s filter was not refreshed`);
});
