// dhcp_release=remove: a lease parked at DeleteEndpoint is given back once
// Docker reports its container removed. udhcpc releases from the leased
// address, so the release runs on an interface of the network's segment that
// carries the identity's MAC, in a throwaway netns (never the host's): the
// container end of one of the network's spares (its host end an access port
// on the VLAN), moved there and gone with it afterwards; the pool refills.
// Started by reconciliation, run in the background (it may wait for the
// server as long as dhcp_timeout): requests never wait for it, but for
// DeleteNetwork, which gives back every parked lease of its network (bounded).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Spare } from '../dataplane/spares.js';
import type { DhcpClient } from '../dhcp/types.js';
import { identityOf } from '../driver/dhcp-endpoint.js';
import { exec, execOk } from '../link/exec.js';
import type { KeyedMutex } from '../lock.js';
import { shortId } from '../names.js';
import type { DhcpKnown, NetworkRecord } from '../store/records.js';
import type { StateCache } from '../store/state.js';

/** A parked lease that could not be given back this many times is forgotten (the server lets it run out). */
const MAX_TRIES = 3;
/** DeleteNetwork waits at most this long for the server (Docker gives up on a plugin call after 30 s). */
const DELETE_WAIT_S = 10;
/** A refused first lease's release waits at most this long: the server has just answered, and Docker's call is still waiting. */
const REFUSED_WAIT_S = 3;

const leaseCidr = (known: DhcpKnown): string => known.cidr ?? `${known.address}/32`;

export interface ParkedReleaseDeps {
  readonly state: StateCache;
  readonly locks: KeyedMutex;
  readonly plane: Dataplane;
  readonly dhcp: DhcpClient;
  readonly log: Logger;
}

export class ParkedReleases {
  readonly #d: ParkedReleaseDeps;
  /** `network:mac` → failed tries; an entry under way is in #running */
  readonly #tries = new Map<string, number>();
  readonly #running = new Set<string>();

  constructor(deps: ParkedReleaseDeps) {
    this.#d = deps;
  }

  /** Whether the client can give back a parked lease at all (else reconciliation only forgets it). */
  get supported(): boolean {
    return this.#d.dhcp.releaseLease !== undefined;
  }

  /**
   * Called by reconciliation for a parked lease whose container is removed:
   * starts its release in the background unless one is under way. Once given
   * back (or after MAX_TRIES failures) the MAC's entry leaves the network's record.
   */
  schedule(net: NetworkRecord, mac: string, known: DhcpKnown): void {
    const key = `${net.id}:${mac}`;
    if (this.#running.has(key)) return;
    this.#running.add(key);
    void this.#d.locks.outside(() => this.#release(net, mac, known))
      .then((released) => {
        const tries = released ? MAX_TRIES : (this.#tries.get(key) ?? 0) + 1;
        if (tries < MAX_TRIES) return void this.#tries.set(key, tries);
        this.#tries.delete(key);
        return this.#forget(net.id, mac, known);
      })
      .catch((err: unknown) => this.#d.log.error({ err, network: shortId(net.id), mac }, `dhcp parked lease not given back: ${(err as Error).message}`))
      .finally(() => this.#running.delete(key));
  }

  /**
   * DeleteNetwork of a network with parked leases, under the network's lock
   * and before its spares go: Docker has no such network any more, so no
   * container comes back to those leases, removed or not. Each is given back
   * now, all at once, each from a spare of its own and waiting at most
   * min(dhcp_timeout, DELETE_WAIT_S) for the server. One not given back is
   * logged: the server lets it run out. Never throws.
   */
  async giveBackAll(net: NetworkRecord): Promise<void> {
    const parked = Object.entries(net.dhcpKnown ?? {}).filter(([, k]) => k.parked === true);
    if (parked.length === 0 || !this.supported || !net.dhcp) return;
    const timeoutS = Math.min(net.dhcp.timeoutS, DELETE_WAIT_S);
    await Promise.all(parked.map(async ([mac, known]) => {
      let spare = this.#d.plane.takeSpare(net.id);
      if (!spare) {
        this.#d.plane.refill(net.id);
        spare = await this.#d.plane.awaitSpare(net.id);
      }
      if (!spare) return void this.#d.log.warn({ network: shortId(net.id), mac }, 'dhcp parked lease not given back at DeleteNetwork: no spare to release it from');
      await this.#releaseFrom(spare, net, mac, leaseCidr(known), timeoutS, 'its network was deleted')
        .catch((err: unknown) => this.#d.log.error({ err, network: shortId(net.id), mac }, `dhcp parked lease not given back: ${(err as Error).message}`));
    }));
  }

  async #release(net: NetworkRecord, mac: string, known: DhcpKnown): Promise<boolean> {
    if (!this.supported || !net.dhcp) return true;
    const spare = this.#d.plane.takeSpare(net.id);
    if (!spare) {
      this.#d.plane.refill(net.id);
      this.#d.log.warn({ network: shortId(net.id), mac }, 'dhcp parked lease: no spare to release it from yet; tried again at the next reconciliation');
      return false;
    }
    try {
      return await this.#releaseFrom(spare, net, mac, leaseCidr(known), net.dhcp.timeoutS, 'its container was removed');
    } finally {
      this.#d.plane.refill(net.id);
    }
  }

  /**
   * CreateEndpoint, its first lease refused (outside dhcp_subnet): the lease
   * the server just gave `mac` is given back from the endpoint's container end
   * `ifname`, which this uses up (moved into a throwaway netns, gone with it:
   * the caller's undo finds no link to return). Waits at most REFUSED_WAIT_S
   * for the server, which has just answered. Never throws.
   */
  async giveBackRefused(net: NetworkRecord, ifname: string, mac: string, cidr: string): Promise<void> {
    await this.#releaseVia(ifname, net, mac, cidr, REFUSED_WAIT_S, 'it was outside dhcp_subnet')
      .catch((err: unknown) => this.#d.log.error({ err, network: shortId(net.id), mac }, `dhcp refused lease not given back: ${(err as Error).message}`));
  }

  /** Gives the lease back from `spare`'s container end; the spare is used up. */
  async #releaseFrom(spare: Spare, net: NetworkRecord, mac: string, cidr: string, timeoutS: number, why: string): Promise<boolean> {
    try {
      return await this.#releaseVia(spare.container, net, mac, cidr, timeoutS, why);
    } finally {
      this.#d.plane.discardSpare(spare); // its port (and what is left of its links)
    }
  }

  /** Gives the lease `cidr` back from link `ifname` of the network's segment, moved into a throwaway netns with the MAC, and gone with it. */
  async #releaseVia(ifname: string, net: NetworkRecord, mac: string, cidr: string, timeoutS: number, why: string): Promise<boolean> {
    const releaseLease = this.#d.dhcp.releaseLease?.bind(this.#d.dhcp);
    if (!releaseLease) return true;
    const ns = `ovr${randomBytes(6).toString('hex')}`;
    try {
      await execOk('ip', ['netns', 'add', ns]);
      await execOk('ip', ['link', 'set', 'dev', ifname, 'netns', ns]);
      await execOk('ip', ['-n', ns, 'link', 'set', 'dev', ifname, 'address', mac, 'up']);
      const released = await releaseLease({ netns: `/run/netns/${ns}`, ifname, identity: identityOf(mac), address: cidr, timeoutS });
      this.#d.log.info({ network: shortId(net.id), mac, address: cidr, released }, released
        ? `dhcp lease given back: ${why}` : 'dhcp lease: no server answered to take it back');
      return released;
    } finally {
      await exec('ip', ['netns', 'del', ns]).catch(() => undefined); // takes the veth with it
    }
  }

  /** The MAC's entry leaves the network's record, unless a newer endpoint with that MAC replaced it meanwhile. */
  async #forget(networkId: string, mac: string, known: DhcpKnown): Promise<void> {
    await this.#d.locks.run(networkId, async () => {
      const net = this.#d.state.network(networkId);
      if (net?.dhcpKnown?.[mac]?.at !== known.at) return;
      await this.#d.state.putNetwork({ ...net, dhcpKnown: Object.fromEntries(Object.entries(net.dhcpKnown).filter(([m]) => m !== mac)) });
    });
  }
}
