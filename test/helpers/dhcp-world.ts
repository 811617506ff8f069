// The world of the DHCP end-to-end test (issue 12): one simulated host (private
// OVS, dockerd and ovsvlan, the daemon in dockerd's mount namespace so that it
// can enter the sandboxes), its uplink cabled to a trunk port (870, 871) of an
// OVS "physical switch", and behind an access port of that switch on VLAN 870
// a server netns where a real dnsmasq serves 10.87.0.100-150 (router: the
// server itself, 10.87.0.2). VLAN 871 has no server. Everything is named with
// the run's prefix and removed at teardown, also on failure; the udhcpc
// processes ovsvlan started are stopped by PID (found by the state directory
// on their command line).
import { readlinkSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { copyFile } from 'node:fs/promises';
import { createHost, type Host, type Teardownable } from './host.js';
import { createSwitch, type Switch } from './multihost.js';
import { createNetns, type Netns } from './netns.js';
import { startDnsmasq, udhcpcPids, type Dnsmasq, type DnsmasqOptions } from './dnsmasq.js';

export { udhcpcPids };
import { RUN_PREFIX, run, runOk } from './run.js';

export const SERVER_IP = '10.87.0.2';
export const RANGE = { from: '10.87.0.100', to: '10.87.0.150', mask: '255.255.255.0' } as const;
/** A reservation on the server: this MAC always gets 10.87.0.77. */
export const RESERVED = { mac: '02:87:00:00:00:77', ip: '10.87.0.77' } as const;

export interface DhcpWorld {
  readonly host: Host;
  readonly sw: Switch;
  readonly server: Netns;
  /** the server now (restartServer replaces it) */
  readonly dnsmasq: Dnsmasq;
  /**
   * Restarts the server with a fresh lease database, authoritative (a renewal
   * of a lease it no longer knows gets a NAK), and these reservations added.
   */
  restartServer(hosts: ReadonlyArray<{ mac: string; ip: string }>): Promise<void>;
}

/** Builds the world; `leaseS`: dnsmasq's lease time (120, its minimum: T1 at 60 s). */
export async function createDhcpWorld(t: Teardownable, opts: { leaseS?: number } = {}): Promise<DhcpWorld> {
  const host = await createHost('dh', t);
  const sw = await createSwitch([host], { t, trunks: [870, 871] });
  const server = await createNetns(`${RUN_PREFIX}-dhsrv`);
  const [srv, port] = [`${RUN_PREFIX}dv`, `${RUN_PREFIX}dvp`];
  let dnsmasq: Dnsmasq | undefined;
  t.teardown(async () => {
    const keep = process.env.OVSVLAN_TEST_KEEP_LOGS;
    if (keep && dnsmasq) await copyFile(dnsmasq.logFile, `${keep}/${RUN_PREFIX}-dnsmasq.log`).catch(() => undefined);
    await dnsmasq?.stop().catch((err: unknown) => console.error(`dnsmasq: ${String(err)}`));
    stopClients(host.stateDir);
    await server.remove();
  });
  await runOk('ip', ['-n', server.name, 'link', 'add', srv, 'type', 'veth', 'peer', 'name', port, 'netns', sw.ns.name]);
  for (const [ns, l] of [[server.name, srv], [sw.ns.name, port]] as const) {
    await run('ip', ['netns', 'exec', ns, 'ethtool', '-K', l, 'tx', 'off']); // netdev switch: no partial checksums
    await runOk('ip', ['-n', ns, 'link', 'set', l, 'up']);
  }
  await sw.ovs.vsctl(['add-port', sw.bridge, port, 'tag=870']);
  await server.ip(['addr', 'add', `${SERVER_IP}/24`, 'dev', srv]);
  const dnsOpts: DnsmasqOptions = { name: 'v870', netns: server.name, ifname: srv, range: RANGE, leaseS: opts.leaseS ?? 120,
    hosts: [RESERVED], router: SERVER_IP };
  dnsmasq = await startDnsmasq(dnsOpts);
  await host.startPlugin({ dockerdMounts: true });
  return {
    host, sw, server,
    get dnsmasq() {
      if (!dnsmasq) throw new Error('dnsmasq is not running');
      return dnsmasq;
    },
    restartServer: async (hosts) => {
      await dnsmasq?.stop();
      dnsmasq = undefined;
      dnsmasq = await startDnsmasq({ ...dnsOpts, hosts: [...(dnsOpts.hosts ?? []), ...hosts], authoritative: true });
    },
  };
}

/** PIDs of every udhcpc process in the network namespace `/run/netns/<ns>` (first leases run in the host's). */
export function udhcpcIn(ns: string): number[] {
  const inode = statSync(`/run/netns/${ns}`).ino;
  return udhcpcPids('').filter((pid) => {
    try {
      return readlinkSync(`/proc/${pid}/ns/net`) === `net:[${inode}]`;
    } catch {
      return false;
    }
  });
}

/** Stops (SIGKILL) the renewal clients of the daemon whose state directory is `stateDir`: only this run's. */
export function stopClients(stateDir: string): void {
  for (const pid of udhcpcPids(stateDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * `docker run -d` with a MAC, through the API at version 1.41 (the private
 * dockerd's): the docker CLI of this machine sends --mac-address per network,
 * which needs API 1.44. Config.MacAddress is what 20.10 gives CreateEndpoint.
 */
export async function runWithMac(h: Host, name: string, net: string, mac: string, cmd: readonly string[], hostname?: string): Promise<void> {
  const body = { Image: 'busybox:local', Cmd: cmd, MacAddress: mac, ...(hostname ? { Hostname: hostname } : {}), HostConfig: { NetworkMode: net } };
  const created = await dockerApi(h.dockerd.sock, 'POST', `/v1.41/containers/create?name=${encodeURIComponent(name)}`, body);
  if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${created.text}`);
  await h.dockerOk(['start', name]);
}

function dockerApi(sock: string, method: string, path: string, body: object): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, method, path, headers: { 'Content-Type': 'application/json' }, timeout: 30_000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
