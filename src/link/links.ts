// Linux links the driver needs: veth pairs for endpoints, and lookups.
// Deleting a link that is already gone is success (Docker retries deletes,
// and a container's netns may have taken its end away with it).
import { LinkError } from '../errors.js';
import { exec, execOk } from './exec.js';

export interface LinkInfo {
  name: string;
  mtu: number;
  /** Interface kind from `ip -d` (veth, tun, openvswitch…), undefined for plain devices. */
  kind: string | undefined;
  /** The link's alias (ifalias): ovsvlan marks its veths with it (names.ts linkMark). */
  alias: string | undefined;
}

interface IpLinkJson {
  ifname: string;
  mtu: number;
  linkinfo?: { info_kind?: string };
  ifalias?: string;
}

const NOT_FOUND = /does not exist|Cannot find device/i;

/**
 * Creates a veth pair with both ends at `mtu`, marks both ends with `alias`
 * and brings the host end up. Returns false, changing nothing, when a link
 * named `host` or `peer` exists already: whose it is, is the caller's to judge.
 * The kernel cannot set an alias in the same call that makes the link: a
 * crash in between leaves a pair without it, which is nobody's to reuse.
 */
export async function createVethPair(host: string, peer: string, mtu: number, alias: string): Promise<boolean> {
  // the host end is NOARP from birth (link/harden.ts); the container end keeps ARP
  const argv = ['link', 'add', host, 'mtu', String(mtu), 'arp', 'off', 'type', 'veth', 'peer', 'name', peer, 'mtu', String(mtu)];
  const r = await exec('ip', argv);
  if (r.exitCode !== 0) {
    if (/File exists/i.test(r.stderr)) return false;
    throw new LinkError(['ip', ...argv], r.stderr);
  }
  try {
    await execOk('ip', ['link', 'set', 'dev', peer, 'alias', alias]);
    await execOk('ip', ['link', 'set', 'dev', host, 'alias', alias, 'up']);
  } catch (err) {
    await deleteLink(host);
    throw err;
  }
  return true;
}

/** Sets a link's alias (marks a veth made before links carried one). */
export async function setAlias(name: string, alias: string): Promise<void> {
  await execOk('ip', ['link', 'set', 'dev', name, 'alias', alias]);
}

/**
 * Turns off transmit checksum offload. Needed on the container end of a veth
 * attached to a userspace (netdev) bridge: OVS reads frames with AF_PACKET and
 * never completes CHECKSUM_PARTIAL, so TCP would arrive with bad checksums.
 * The setting survives Docker moving the link into the container.
 */
export async function disableTxOffload(name: string): Promise<void> {
  await execOk('ethtool', ['-K', name, 'tx', 'off']);
}

/** Deletes a link; returns false when it was already gone. */
export async function deleteLink(name: string): Promise<boolean> {
  const r = await exec('ip', ['link', 'del', name]);
  if (r.exitCode === 0) return true;
  if (NOT_FOUND.test(r.stderr)) return false;
  throw new LinkError(['ip', 'link', 'del', name], r.stderr);
}

export async function getLink(name: string): Promise<LinkInfo | undefined> {
  const argv = ['-j', '-d', 'link', 'show', 'dev', name];
  const r = await exec('ip', argv);
  if (r.exitCode !== 0) {
    if (NOT_FOUND.test(r.stderr)) return undefined;
    throw new LinkError(['ip', ...argv], r.stderr);
  }
  const [l] = JSON.parse(r.stdout) as IpLinkJson[];
  return l ? linkInfo(l) : undefined;
}

/** All links of the current namespace. */
export async function listLinks(): Promise<LinkInfo[]> {
  const out = await execOk('ip', ['-j', '-d', 'link', 'show']);
  return (JSON.parse(out) as IpLinkJson[]).map(linkInfo);
}

const linkInfo = (l: IpLinkJson): LinkInfo => ({ name: l.ifname, mtu: l.mtu, kind: l.linkinfo?.info_kind, alias: l.ifalias || undefined });
