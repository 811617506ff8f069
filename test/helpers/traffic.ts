// What a user observes of ovsvlan's data plane on a simulated host: ping and TCP between
// containers (docker exec), and the OVS ports ovsvlan owns (ovs-vsctl as an outside observer).
import type { Host } from './host.js';
import { sleep } from './run.js';

export interface OvsPort {
  name: string;
  tag: number | undefined;
  externalIds: Record<string, string>;
}

/**
 * Ports carrying ovsvlan's external_ids, read through ovs-vsctl; `spares`: with the
 * networks' spare ports (ovsvlan-role=spare, no endpoint's yet), left out by default.
 */
export async function ownedPorts(host: Host, opts: { spares?: boolean } = {}): Promise<OvsPort[]> {
  const out = await host.ovs.vsctl(['--format=json', '--columns=name,tag,external_ids', 'find', 'Port', 'external_ids:ovsvlan-owner=ovsvlan']);
  const table = JSON.parse(out) as { data: Array<[string, unknown, [string, Array<[string, string]>]]> };
  const all = table.data.filter(([, , ids]) => opts.spares === true || !ids[1].some(([k, v]) => k === 'ovsvlan-role' && v === 'spare'));
  return all.map(([name, tag, ids]) => ({
    name,
    tag: typeof tag === 'number' ? tag : undefined,
    externalIds: Object.fromEntries(ids[1]),
  }));
}

/** `container` pings `ip` (two tries: the first packets may go to ARP). */
export async function ping(host: Host, container: string, ip: string): Promise<boolean> {
  for (let i = 0; i < 2; i++) {
    const r = await host.docker(['exec', container, 'ping', '-c', '2', '-W', '2', ip]);
    if (r.exitCode === 0) return true;
  }
  return false;
}

export async function pingFails(host: Host, container: string, ip: string): Promise<boolean> {
  const r = await host.docker(['exec', container, 'ping', '-c', '2', '-W', '1', ip]);
  return r.exitCode !== 0;
}

/** Sends `bytes` random bytes over TCP from `client` to `server` and compares checksums. */
export async function tcpTransfer(host: Host, server: string, serverIp: string, client: string, bytes: number): Promise<boolean> {
  await host.dockerOk(['exec', '-d', server, 'sh', '-c', 'rm -f /got; sleep 20 | nc -l -p 5000 > /got']);
  const sum = (await host.dockerOk(['exec', client, 'sh', '-c', `head -c ${bytes} /dev/urandom > /src && md5sum /src`])).split(' ')[0];
  await sleep(300);
  await host.docker(['exec', client, 'sh', '-c', `timeout 15 nc ${serverIp} 5000 < /src`]);
  for (let i = 0; i < 50; i++) {
    const got = await host.docker(['exec', server, 'sh', '-c', 'md5sum /got']);
    if (got.stdout.split(' ')[0] === sum) return true;
    await sleep(200);
  }
  return false;
}

/** The endpoint ID Docker gave `container` on `network`. */
export function endpointId(host: Host, container: string, network: string): Promise<string> {
  return host.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").EndpointID}}`, container]);
}
