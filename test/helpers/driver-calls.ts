// Requests as Docker sends them to the network driver, and the attach/detach
// sequences around a sandbox, shared by the e2e tests that drive the daemon over
// its socket (test/helpers/socket-host.ts) without a dockerd.
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import type { Answer, Sandbox, SocketHost } from './socket-host.js';

/** Two endpoint (or network) IDs whose names collide: 48 bits of SHA-256 agree (Floyd's cycle search, ~10^8 hashes). */
export const COLLIDING_IDS = ['27acd966b8ee' + '0'.repeat(52), '3811e66e5256' + '0'.repeat(52)] as const;

/** `n` random hex digits. */
export const hex = (n: number): string => randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
/** A Docker-shaped ID (64 hex) starting with `prefix`. */
export const idWith = (prefix: string): string => prefix + hex(64 - prefix.length);

/** CreateNetwork of a VLAN network on `${subnet}.0/24` (gateway .1), with more generic options in `extra`. */
export const vlanNet = (id: string, vlan: number, subnet: string, extra: Record<string, string> = {}): object => ({
  NetworkID: id, Options: { 'com.docker.network.generic': { vlan: String(vlan), ...extra } },
  IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: `${subnet}.0/24`, Gateway: `${subnet}.1/24` }], IPv6Data: [],
});
/** CreateEndpoint with the address Docker's IPAM gave (`cidr`). */
export const endpoint = (net: string, ep: string, cidr: string): object => ({ NetworkID: net, EndpointID: ep, Interface: { Address: cidr, AddressIPv6: '', MacAddress: '' }, Options: {} });
/** Leave, DeleteEndpoint and the like: the network and the endpoint. */
export const epReq = (net: string, ep: string): object => ({ NetworkID: net, EndpointID: ep });
/** Join, with a sandbox key Docker would give. */
export const joinReq = (net: string, ep: string): object => ({ NetworkID: net, EndpointID: ep, SandboxKey: '/var/run/docker/netns/0123456789ab', Options: {} });

/** The call was answered 200. */
export function ok(t: Test, r: Answer, what: string): void {
  t.equal(r.status, 200, `${what}: ${JSON.stringify(r.answer).slice(0, 300)}`);
}
/** The call was refused (500) with an error matching `why`. */
export function refused(t: Test, r: Answer, what: string, why: RegExp): void {
  t.equal(r.status, 500, `${what} is refused`);
  t.match(String(r.answer['Err']), why, `${what}: ${String(r.answer['Err']).slice(0, 300)}`);
}

/** An endpoint joined and its container end in a sandbox. */
export interface Plugged {
  ep: string;
  src: string;
  ip: string;
  box: Sandbox;
}

/** CreateEndpoint + Join, then the container end moved into a sandbox of its own (Docker's order). */
export async function attach(t: Test, host: SocketHost, net: string, ep: string, ip: string, box: string): Promise<Plugged> {
  ok(t, await host.call('NetworkDriver.CreateEndpoint', endpoint(net, ep, `${ip}/24`)), `CreateEndpoint ${ep.slice(0, 12)}`);
  const j = await host.call('NetworkDriver.Join', joinReq(net, ep));
  ok(t, j, `Join ${ep.slice(0, 12)}`);
  const src = String((j.answer['InterfaceName'] as { SrcName?: string } | undefined)?.SrcName);
  const sandbox = await host.sandbox(box);
  await sandbox.plug(src, `${ip}/24`);
  return { ep, src, ip, box: sandbox };
}

/**
 * Leave, the container end back to the host, DeleteEndpoint (Docker's order); then
 * up to 10 s for the port and veth to go (DeleteEndpoint answers first, they follow).
 */
export async function detach(t: Test, host: SocketHost, net: string, p: Plugged): Promise<void> {
  ok(t, await host.call('NetworkDriver.Leave', epReq(net, p.ep)), 'Leave');
  await p.box.unplug(p.src);
  ok(t, await host.call('NetworkDriver.DeleteEndpoint', epReq(net, p.ep)), 'DeleteEndpoint');
  const hostEnd = `ovh${p.src.slice(3)}`;
  for (let i = 0; i < 100 && ((await host.port(hostEnd)) || (await host.links()).has(p.src)); i++) await new Promise((r) => setTimeout(r, 100));
}
