// A network's own OVS objects besides endpoint ports: the tunnel ports of an
// overlay, the bridge's trunk uplink, and the host's internal port. Each
// function makes OVS match the record and is safe to run again (create,
// retries, and reconciliation use the same code). A cluster mesh network
// (record.mesh) has no `remotes` tunnels: cluster/mesh.ts makes one per live
// peer; removeInfra removes those too.
import { ConflictError } from '../errors.js';
import { canonicalAddress } from '../ipam/address.js';
import { setAddress } from '../link/addr.js';
import { fenceHostPort, hardenHostPort } from '../link/harden.js';
import { getLink } from '../link/links.js';
import type { NetworkRecord } from '../store/records.js';
import type { PortInfo } from '../vswitch/vswitch.js';
import type { DataplaneContext } from './context.js';
import { BASE_TRUNKS_KEY, hasMarks, infraExternalIds, meshPeerOf, meshTunnelExternalIds, OWNER_KEY, OWNER_VALUE, portNamesOf, ROLE_KEY } from '../names.js';

/** Tunnel and host ports of the network; `repair` only touches what is missing or different. Returns what it (re)made. */
export async function applyInfra(ctx: DataplaneContext, net: NetworkRecord, repair = false): Promise<string[]> {
  const made: string[] = [];
  const names = portNamesOf(net);
  if (net.mode !== 'vlan' && net.mesh !== true) {
    for (const [i, remote] of net.remotes.entries()) {
      const name = names.tunnels[i] ?? '';
      const key = net.key ?? 0;
      const marks = infraExternalIds('tunnel', net.id);
      if (repair && isTunnel(await ctx.vswitch.getPort(name), marks, net.bridge, net.mode, remote, key)) continue;
      await ctx.vswitch.attachTunnel({ bridge: net.bridge, name, type: net.mode, remote, key, externalIds: marks });
      made.push(name);
    }
  }
  if (net.hostIp && names.host) {
    const marks = infraExternalIds('host', net.id);
    const port = await ctx.vswitch.getPort(names.host);
    if (!repair || port?.bridge !== net.bridge || port.tag !== net.vlan || !hasMarks(port.externalIds, marks)) {
      if (!port) await refuseForeignLink(names.host); // a port of that name: attachHostPort judges whose it is
      await ctx.vswitch.attachHostPort({ bridge: net.bridge, name: names.host, tag: net.vlan, mtu: net.mtu, externalIds: marks });
      made.push(names.host);
    }
    await hardenHostPort(names.host); // before setAddress brings it up
    await setAddress(names.host, net.hostIp);
    // a new address is kept out of every other host port; a repair only fences this network's own
    await fenceHostPorts(ctx, net.id, repair);
  }
  if (net.uplink) made.push(...(await syncUplink(ctx, net.bridge)));
  return made;
}

/**
 * A host port is an OVS internal port, whose kernel link OVS makes: a link of
 * its name while OVS has no port of that name is another's (OVS would fail to
 * open it, and the host_ip would be put on that link). Refused, the link left
 * alone. A link of kind openvswitch is OVS's own internal device left over
 * (its port row gone, the datapath's device not yet): attaching the port
 * takes it back.
 */
async function refuseForeignLink(name: string): Promise<void> {
  const link = await getLink(name);
  if (!link || link.kind === 'openvswitch') return;
  throw new ConflictError(`cannot make the host_ip port ${name}: a ${link.kind ?? 'network'} interface of that name exists and is not ` +
    'ovsvlan\'s; ovsvlan never takes over a link: remove it, or create the network with another ID');
}

function isTunnel(p: PortInfo | undefined, marks: Record<string, string>, bridge: string, type: string, remote: string, key: number): boolean {
  return p?.bridge === bridge && hasMarks(p.externalIds, marks) && p.type === type && p.protected
    && p.options['remote_ip'] === remote && p.options['key'] === String(key);
}

/** Removes the network's tunnel and host ports, its mesh's tunnels included: those marked as its own (what is gone already is fine). */
export async function removeInfra(ctx: DataplaneContext, net: NetworkRecord): Promise<void> {
  const names = portNamesOf(net);
  for (const name of names.tunnels) await ctx.vswitch.detachPort(name, infraExternalIds('tunnel', net.id));
  const peers = (await ctx.vswitch.listOwnedPorts()).flatMap((p) => {
    const peer = meshPeerOf(p.externalIds);
    return peer?.networkId === net.id ? [{ name: p.name, marks: meshTunnelExternalIds(net.id, peer.hostId) }] : [];
  });
  if (peers.length > 0) await ctx.vswitch.detachPorts(peers, { wait: true });
  // the other host ports' filters are refreshed by the caller once the bridge and uplink are done (fenceHostPorts)
  if (names.host) await ctx.vswitch.detachPort(names.host, infraExternalIds('host', net.id));
}

/**
 * Gives every network's host port the filter that keeps out packets to the
 * other networks' host_ips (link/harden.ts fenceHostPort), from the records as
 * they are now: run when a network with a host_ip is made (`own`: its ID) or
 * removed (`own` undefined), or repaired (`onlyOwn`: its port alone). One at a
 * time, so the last run has the latest records. A port whose link is missing
 * or vanishes meanwhile (a concurrent DeleteNetwork) is skipped (applyInfra
 * makes it). Only `own`'s port failing fails the call: another network's is
 * logged and left to reconciliation, which refences every port.
 */
export async function fenceHostPorts(ctx: DataplaneContext, own?: string, onlyOwn = false): Promise<void> {
  await ctx.locks.run(HOST_PORTS_LOCK, async () => {
    const ports = ctx.state.networks().flatMap((n) => {
      const name = n.hostIp ? portNamesOf(n).host : undefined;
      const address = canonicalAddress(n.hostIp);
      return name && address ? [{ network: n.id, name, address }] : [];
    });
    for (const port of ports) {
      if ((onlyOwn && port.network !== own) || !(await getLink(port.name))) continue;
      // the same address on two networks (one subnet on two VLANs) is this port's own too: never fenced off it
      const foreign = ports.filter((p) => p.name !== port.name && p.address !== port.address).map((p) => p.address);
      try {
        await fenceHostPort(port.name, foreign);
      } catch (err) {
        if (!(await getLink(port.name))) continue; // gone meanwhile: nothing left to fence
        if (port.network === own) throw err;
        ctx.log.warn({ err, network: port.network, port: port.name }, 'host port filter not refreshed; reconciliation retries');
      }
    }
  });
}

const HOST_PORTS_LOCK = 'host-ports';

/**
 * The bridge's uplink carries exactly the VLANs of the networks on it: attach
 * it when missing, update its trunks when they differ, let it go when no
 * network on the bridge names it any more. An uplink the operator attached by
 * hand (the host's own VLAN trunked on it, docs/multi-host.md) is adopted: its
 * own VLANs stay on the trunk, and it is given back as it was. Returns the
 * uplink when it was (re)attached or adopted.
 */
export async function syncUplink(ctx: DataplaneContext, bridge: string, formerUplink?: string): Promise<string[]> {
  const nets = ctx.state.networks().filter((n) => n.mode === 'vlan' && n.bridge === bridge);
  const withUplink = nets.find((n) => n.uplink);
  const uplink = withUplink?.uplink;
  if (!uplink) {
    if (formerUplink) await dropUplink(ctx, formerUplink);
    return [];
  }
  const vlans = nets.map((n) => n.vlan).filter((v): v is number => v !== undefined);
  const port = await ctx.vswitch.getPort(uplink);
  if (port?.bridge === bridge && port.externalIds[OWNER_KEY] !== OWNER_VALUE) {
    await ctx.vswitch.adoptUplink(uplink, union(port.trunks, vlans),
      { ...infraExternalIds('uplink'), [BASE_TRUNKS_KEY]: port.trunks.join(',') });
    return [uplink];
  }
  const base = baseTrunks(port);
  const trunks = union(base ?? [], vlans);
  if (port?.bridge === bridge && base !== undefined) {
    if (port.trunks.join(',') !== trunks.join(',')) await ctx.vswitch.setTrunks(uplink, trunks);
    return [];
  }
  const nativeOk = withUplink.nativeVlan === undefined
    ? port?.vlanMode === undefined && port?.tag === undefined
    : port?.vlanMode === 'native-untagged' && port.tag === withUplink.nativeVlan;
  if (port?.bridge !== bridge || !nativeOk) {
    await ctx.vswitch.attachUplink({ bridge, name: uplink, trunks, nativeVlan: withUplink.nativeVlan, externalIds: infraExternalIds('uplink') });
    return [uplink];
  }
  if (port.trunks.join(',') !== trunks.join(',')) await ctx.vswitch.setTrunks(uplink, trunks);
  return [];
}

/** An uplink no network wants any more: detached if ovsvlan attached it, given back if adopted. */
export async function dropUplink(ctx: DataplaneContext, name: string): Promise<void> {
  const port = await ctx.vswitch.getPort(name);
  if (!port || port.externalIds[OWNER_KEY] !== OWNER_VALUE) return;
  const base = baseTrunks(port);
  if (base === undefined) await ctx.vswitch.detachPort(name, infraExternalIds('uplink'));
  else await ctx.vswitch.releaseUplink(name, base, [OWNER_KEY, ROLE_KEY, BASE_TRUNKS_KEY]);
}

/** The VLANs an adopted uplink carried before ovsvlan; undefined when ovsvlan attached it. */
function baseTrunks(port: PortInfo | undefined): number[] | undefined {
  const raw = port?.externalIds[BASE_TRUNKS_KEY];
  return raw === undefined ? undefined : raw.split(',').filter(Boolean).map(Number);
}

const union = (a: readonly number[], b: readonly number[]): number[] => [...new Set([...a, ...b])].sort((x, y) => x - y);
