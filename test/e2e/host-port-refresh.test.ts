// Review finding 2: making or removing a network with a host_ip refreshes the
// filter of every other network's host port (link/harden.ts fenceHostPort). A
// failure on another network's port is that network's business: logged and
// left to reconciliation, it must fail neither this network's DeleteNetwork
// (which stopped after the record was gone, leaving its bridge) nor its
// CreateNetwork (which rolled the network back). The failure is made for
// real: an `ingress` qdisc on hf1's host port, which the kernel will not
// replace with the `clsact` the filter needs.
import t from 'tap';
import { createHost, type Host } from '../helpers/host.js';
import { logRecords } from '../helpers/faults.js';
import { RUN_PREFIX } from '../helpers/run.js';
import { ownedPorts } from '../helpers/traffic.js';

/** The name of network `name`'s host_ip port, from OVS's marks. */
async function hostPortOf(host: Host, name: string): Promise<string | undefined> {
  const id = await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', name]);
  return (await ownedPorts(host)).find((p) => p.externalIds['ovsvlan-role'] === 'host' && p.externalIds['ovsvlan-network'] === id)?.name;
}

t.test('another network\'s host port that cannot be fenced fails neither delete nor create', async (t) => {
  const host = await createHost('hf', t);
  await host.startPlugin();
  const create = (n: number, bridge?: string): Promise<{ exitCode: number; stderr: string }> => host.docker(['network', 'create', '-d', 'ovsvlan',
    '--opt', `vlan=80${n}`, '--opt', `host_ip=10.7${n}.0.254/24`, ...(bridge ? ['--opt', `bridge=${bridge}`] : []),
    '--ipam-driver', 'ovsvlan', '--subnet', `10.7${n}.0.0/24`, '--gateway', `10.7${n}.0.1`, `hf${n}`]);
  const bridge2 = `${RUN_PREFIX}f2`;
  t.equal((await create(1)).exitCode, 0, 'hf1 created');
  t.equal((await create(2, bridge2)).exitCode, 0, `hf2 created on its own bridge ${bridge2}`);
  const net2 = await host.dockerOk(['network', 'inspect', '-f', '{{.Id}}', 'hf2']);
  const port1 = await hostPortOf(host, 'hf1');
  if (!port1) throw new Error('the host_ip port of hf1 is missing');
  // hf1's port now refuses the filter: its clsact swapped for an ingress qdisc
  await host.ns.execOk('tc', ['qdisc', 'del', 'dev', port1, 'clsact']);
  await host.ns.execOk('tc', ['qdisc', 'add', 'dev', port1, 'ingress']);

  const rm = await host.docker(['network', 'rm', 'hf2']);
  t.equal(rm.exitCode, 0, `hf2 is removed although hf1's port cannot be fenced (${rm.stderr.trim()})`);
  t.notOk((await ownedPorts(host)).some((p) => p.externalIds['ovsvlan-network'] === net2), 'no port of hf2 is left');
  t.notOk((await host.ovs.vsctl(['list-br'])).split('\n').includes(bridge2), `hf2's bridge ${bridge2} is gone with it`);
  t.notOk(Object.keys((await host.plugin?.readState())?.networks ?? {}).includes(net2), 'hf2\'s record is gone');

  const made = await create(3);
  t.equal(made.exitCode, 0, `hf3 is created although hf1's port cannot be fenced (${made.stderr.trim()})`);
  const port3 = await hostPortOf(host, 'hf3');
  t.ok(port3, 'hf3 has its host port');
  t.match(await host.ns.execOk('tc', ['filter', 'show', 'dev', port3 ?? 'none', 'ingress']), /pref 1 bpf/, 'and its own filter');

  const warned = (await logRecords(host.plugin?.logFile ?? '')).filter((r) => /filters? not refreshed/.test(String(r.msg)));
  t.ok(warned.some((r) => r['port'] === port1), `the daemon logged that ${port1}'s filter was not refreshed`);
});
