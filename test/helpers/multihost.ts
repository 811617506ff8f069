// Several simulated hosts on one machine (port of the harness' underlay_link and of its
// "physical switch" in 01-vlan-single-host.sh):
//  - createUnderlay: each host gets a netdev bridge `${RUN_PREFIX}phy` holding its underlay NIC and
//    an internal port with the VTEP address 10.99.0.<n>/24 (the br-phy pattern userspace tunnels
//    need: ovs-vswitchd resolves remote VTEPs through the kernel routes of its netns and pops
//    tunnelled frames addressed to that port). Hosts are cabled by a veth (2 hosts) or by a Linux
//    bridge in a netns of its own (more, or with `hubAddress`: the hub bridge then holds that address,
//    e.g. for the cluster tests' etcd, and addHost() cables one more host later).
//  - createSwitch: a third netns with its own OVS instance whose bridge plays the physical switch,
//    a trunk port per host, cabled to `${RUN_PREFIX}up` in every host netns (the uplink to hand
//    ovsvlan), and tcpdump on those cables.
// 10.99.0.0/24 and every link exist only inside the test namespaces; nothing touches the root netns.
import type { Host, Teardownable } from './host.js';
import { createNetns, type Netns } from './netns.js';
import { destroyOvs, startOvs, type OvsInstance } from './ovs.js';
import { startCapture, type Capture, type CaptureOpts } from './capture.js';
import { RUN_PREFIX, run, runOk, sleep } from './run.js';

export { startCapture, vlanTags, type Capture, type CaptureOpts } from './capture.js';

const BUSYBOX = '/bin/busybox';

/** Runs `fn` at the end of `t`, never throwing: a throwing tap teardown drops the teardowns after it. */
function safeTeardown(t: Teardownable | undefined, what: string, fn: () => Promise<void>): void {
  t?.teardown(async () => {
    try {
      await fn();
    } catch (err) {
      console.error(`${what}: teardown failed: ${String(err)}`);
    }
  });
}

/** Disables tx checksum offload (the userspace datapath does not complete CHECKSUM_PARTIAL) and sets the link up. */
async function prepareCable(ns: string, ifname: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'ethtool', '-K', ifname, 'tx', 'off']);
  await runOk('ip', ['-n', ns, 'link', 'set', ifname, 'up']);
}

/** `ping` from a namespace itself (not a container), two tries: the first packets may go to ARP. */
export async function nsPing(ns: string, ip: string, tries = 2): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    const r = await run('ip', ['netns', 'exec', ns, BUSYBOX, 'ping', '-c', '2', '-W', '2', ip]);
    if (r.exitCode === 0) return true;
  }
  return false;
}

export interface Underlay {
  /** The VTEP bridge on every host: `${RUN_PREFIX}phy` (netdev; its internal port holds the VTEP IP). */
  readonly bridge: string;
  /** The underlay NIC in every host netns (port of the VTEP bridge). */
  readonly nic: string;
  /** VTEP address of hosts[i] (10.99.0.<i+1>), without prefix length. */
  readonly ips: readonly string[];
  readonly mtu: number;
  /** The hub netns (its Linux bridge cables the hosts), undefined when two hosts share one veth. */
  readonly hub: Netns | undefined;
  /** Cables one more host to the hub (VTEP 10.99.0.<n>, n = hosts so far + 1) and resolves its VTEP address once it reaches every other host. */
  addHost(host: Host): Promise<string>;
  /** Removes the VTEP bridges, cables and the switch netns (idempotent, never throws). */
  remove(): Promise<void>;
}

export interface UnderlayOpts {
  /** MTU of the cables and of the VTEP port (default 1500). */
  mtu?: number;
  /** When given, remove() runs at its end (also when it fails). */
  t?: Teardownable;
  /**
   * An address (CIDR, e.g. 10.99.0.250/24) for the hub bridge: the hosts are then always cabled
   * through the hub netns, one host is enough, and addHost() works.
   */
  hubAddress?: string;
}

export async function createUnderlay(initialHosts: readonly Host[], opts: UnderlayOpts = {}): Promise<Underlay> {
  const useHub = initialHosts.length > 2 || opts.hubAddress !== undefined;
  if (initialHosts.length < (useHub ? 1 : 2)) throw new Error('createUnderlay: needs at least two hosts (one with hubAddress)');
  const mtu = opts.mtu ?? 1500;
  const mtuArgs = ['mtu', String(mtu)];
  const bridge = `${RUN_PREFIX}phy`;
  const nic = `${RUN_PREFIX}ul`;
  const sw = `${RUN_PREFIX}ulsw`;
  // grow with addHost()
  const hosts: Host[] = [];
  const ips: string[] = [];
  let hub: Netns | undefined;
  let removing: Promise<void> | undefined;
  const remove = (): Promise<void> =>
    (removing ??= (async () => {
      for (const h of hosts) {
        await run('ovs-vsctl', [`--db=unix:${h.ovs.dbSock}`, '--timeout=5', '--if-exists', 'del-br', bridge]);
        await run('ip', ['-n', h.ns.name, 'link', 'del', nic]);
      }
      await hub?.remove();
    })());
  safeTeardown(opts.t, 'underlay', remove);

  /** hosts[i]'s cable to the hub bridge (its far end `${RUN_PREFIX}u<i>` in the hub). */
  const cableToHub = async (h: Host, i: number): Promise<void> => {
    if (!hub) throw new Error('underlay: no hub');
    const far = `${RUN_PREFIX}u${i}`;
    await runOk('ip', ['-n', h.ns.name, 'link', 'add', nic, ...mtuArgs, 'type', 'veth', 'peer', 'name', far, 'netns', hub.name, ...mtuArgs]);
    await hub.ip(['link', 'set', far, 'master', sw]);
    await prepareCable(hub.name, far);
  };
  /** hosts[i]'s VTEP bridge with its NIC and the address 10.99.0.<i+1>. */
  const vtep = async (h: Host, i: number): Promise<void> => {
    await prepareCable(h.ns.name, nic);
    await h.ovs.vsctl(['add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev', '--', 'add-port', bridge, nic,
      '--', 'set', 'interface', bridge, `mtu_request=${mtu}`]);
    await h.ns.ip(['addr', 'add', `${ips[i]}/24`, 'dev', bridge]);
    await h.ns.ip(['link', 'set', bridge, 'up']);
  };
  /** hosts[i] reaches every other VTEP and the hub's address (this also fills OVS' tnl/arp cache by snooping). */
  const reaches = async (i: number): Promise<void> => {
    const h = hosts[i] as Host;
    const targets = ips.filter((_, j) => j !== i);
    if (opts.hubAddress !== undefined) targets.push(opts.hubAddress.replace(/\/\d+$/, ''));
    for (const ip of targets) {
      if (!(await nsPing(h.ns.name, ip, 3))) throw new Error(`underlay: ${h.name} cannot ping ${ip}`);
    }
  };

  try {
    hosts.push(...initialHosts);
    ips.push(...hosts.map((_, i) => `10.99.0.${i + 1}`));
    if (!useHub) {
      // one cable, created directly in both namespaces (same name on both ends)
      const [a, b] = hosts as [Host, Host];
      await runOk('ip', ['-n', a.ns.name, 'link', 'add', nic, ...mtuArgs, 'type', 'veth', 'peer', 'name', nic, 'netns', b.ns.name, ...mtuArgs]);
    } else {
      hub = await createNetns(`${RUN_PREFIX}-ul`);
      await hub.ip(['link', 'add', sw, 'type', 'bridge']);
      if (opts.hubAddress !== undefined) await hub.ip(['addr', 'add', opts.hubAddress, 'dev', sw]);
      await hub.ip(['link', 'set', sw, 'up']);
      for (const [i, h] of hosts.entries()) await cableToHub(h, i);
    }
    for (const [i, h] of hosts.entries()) await vtep(h, i);
    for (const i of hosts.keys()) await reaches(i);
  } catch (err) {
    await remove().catch(() => undefined);
    throw err;
  }
  const addHost = async (h: Host): Promise<string> => {
    if (!hub) throw new Error('underlay: addHost needs the hub (three hosts or more, or hubAddress)');
    const i = hosts.length;
    const ip = `10.99.0.${i + 1}`;
    // recorded first: remove() takes what a half-way cabling left
    hosts.push(h);
    ips.push(ip);
    await cableToHub(h, i);
    await vtep(h, i);
    await reaches(i);
    return ip;
  };
  return { bridge, nic, ips, mtu, hub, addHost, remove };
}

export interface Switch {
  readonly ns: Netns;
  readonly ovs: OvsInstance;
  /** The bridge playing the physical switch. */
  readonly bridge: string;
  /** Name of the uplink cable end in every host netns: give it to ovsvlan as `--opt uplink=`. */
  readonly uplink: string;
  /** Switch-side trunk port of hosts[i]. */
  readonly ports: readonly string[];
  readonly trunks: readonly number[];
  /** tcpdump on the uplink cable of `host`, inside that host's netns. */
  capture(host: Host, opts?: CaptureOpts): Promise<Capture>;
  /** Cables one more host to a new trunk port (`${RUN_PREFIX}s<n>`, same trunks). */
  addHost(host: Host): Promise<void>;
  remove(): Promise<void>;
}

export interface SwitchOpts {
  /** VLANs the switch ports carry tagged (default 860, 861). */
  trunks?: readonly number[];
  t?: Teardownable;
}

export async function createSwitch(initialHosts: readonly Host[], opts: SwitchOpts = {}): Promise<Switch> {
  const trunks = opts.trunks ?? [860, 861];
  const bridge = `${RUN_PREFIX}sw`;
  const uplink = `${RUN_PREFIX}up`;
  // grow with addHost()
  const hosts: Host[] = [];
  const ports: string[] = [];
  let ns: Netns | undefined;
  let ovs: OvsInstance | undefined;
  let removing: Promise<void> | undefined;
  const remove = (): Promise<void> =>
    (removing ??= (async () => {
      // deleting the switch netns deletes the cables, the host ends (our ${uplink}) with them
      if (ovs) await destroyOvs(ovs).catch((err: unknown) => console.error(`switch: ${String(err)}`));
      await ns?.remove();
      for (const h of hosts) await run('ip', ['-n', h.ns.name, 'link', 'del', uplink]);
    })());
  safeTeardown(opts.t, 'switch', remove);

  /** A trunk port of the switch cabled to `h`'s uplink; recorded first, so that remove() takes a half-made one. */
  const cable = async (h: Host): Promise<void> => {
    if (!ns || !ovs) throw new Error('switch: not started');
    const port = `${RUN_PREFIX}s${ports.length}`;
    hosts.push(h);
    ports.push(port);
    await runOk('ip', ['-n', h.ns.name, 'link', 'add', uplink, 'type', 'veth', 'peer', 'name', port, 'netns', ns.name]);
    await prepareCable(h.ns.name, uplink);
    await prepareCable(ns.name, port);
    await ovs.vsctl(['add-port', bridge, port, '--', 'set', 'port', port, `trunks=${trunks.join(',')}`]);
  };
  try {
    ns = await createNetns(`${RUN_PREFIX}-sw`);
    ovs = await startOvs('switch', ns.name);
    await ovs.vsctl(['add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev']);
    for (const h of initialHosts) await cable(h);
  } catch (err) {
    await remove().catch(() => undefined);
    throw err;
  }
  const sw: Switch = {
    ns,
    ovs,
    bridge,
    uplink,
    ports,
    trunks,
    capture: (host, o) => startCapture(host.ns.name, uplink, o),
    addHost: cable,
    remove,
  };
  return sw;
}

export interface Peer {
  host: Host;
  container: string;
}

/**
 * Sends `bytes` random bytes over TCP from `client` to `server` (on another host, or the same)
 * and compares md5 sums; busybox nc on both ends, the server's stdin held open by `sleep`.
 */
export async function tcpAcross(server: Peer & { ip: string }, client: Peer, bytes: number, port = 5000): Promise<boolean> {
  await server.host.dockerOk(['exec', '-d', server.container, 'sh', '-c', `rm -f /got; sleep 30 | nc -l -p ${port} > /got`]);
  const sum = (await client.host.dockerOk(['exec', client.container, 'sh', '-c', `head -c ${bytes} /dev/urandom > /src && md5sum /src`])).split(' ')[0];
  await sleep(300);
  await client.host.docker(['exec', client.container, 'sh', '-c', `timeout 20 nc ${server.ip} ${port} < /src`]);
  for (let i = 0; i < 50; i++) {
    const got = await server.host.docker(['exec', server.container, 'sh', '-c', 'md5sum /got']);
    if (got.stdout.split(' ')[0] === sum) return true;
    await sleep(200);
  }
  return false;
}

/** `ip -j link` of one interface in a namespace (mtu, master…), undefined when it does not exist. */
export async function linkInfo(ns: string, ifname: string): Promise<{ mtu: number; master?: string } | undefined> {
  const r = await run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', ifname]);
  if (r.exitCode !== 0) return undefined;
  return (JSON.parse(r.stdout) as Array<{ mtu: number; master?: string }>)[0];
}
