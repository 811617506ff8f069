// The renewal side of DHCP networks (issue 12), all of it in the background,
// never in a request handler and never holding one back: after Join, the
// renewal client is started in the container's netns once Docker has set the
// container up (with the hostname Docker gives it, when Docker answers);
// Leave stops it; the lease files its hook writes are looked at every few
// seconds, and an address the server changed is logged and recorded;
// reconciliation adopts the clients still running after a restart and starts
// those that are missing. The client itself is src/dhcp/'s (DhcpClient).
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { DhcpClient, Lease } from '../dhcp/types.js';
import { waitForAddressIn } from '../dhcp/netns.js';
import type { KeyedMutex } from '../lock.js';
import { shortId } from '../names.js';
import { endpointLockKey } from '../dataplane/endpoint.js';
import type { EndpointRecord } from '../store/records.js';
import type { StateCache } from '../store/state.js';

/** How long the container's set-up (Docker moving the link and setting the lease's address) may take after Join. */
const SANDBOX_WAIT_MS = 30_000;
const POLL_MS = 250;
/** How often the lease files are looked at for an address the server changed. */
const LEASE_CHECK_MS = 5_000;
/** How often, and how far apart, Docker is asked for the container of a joined endpoint. */
const CONTAINER_TRIES = 10;
const CONTAINER_PAUSE_MS = 1_000;
/** Leave with a release waits this long at most for a hurried start, and a hurried start this long for its client's lease. */
const HURRY_WAIT_MS = 10_000;
const BOUND_WAIT_MS = 5_000;

/** Docker's container of an endpoint, as the background learns it (reconcile/docker.ts DockerReader gives it). */
export interface ContainerOfEndpoint {
  (endpointId: string): Promise<{ id: string; hostname: string } | undefined>;
}

export interface RenewalsDeps {
  readonly state: StateCache;
  readonly locks: KeyedMutex;
  readonly dhcp: DhcpClient;
  readonly log: Logger;
  /** undefined without Docker (OVSVLAN_DOCKER empty): no hostname is sent */
  readonly containerOf: ContainerOfEndpoint | undefined;
}

/** What reconciliation is told of each action (reconcile.ts Act). */
export type RenewalAct = (rule: string, fields: Record<string, unknown>) => void;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A background start under way (#launch). */
interface Start {
  abort: AbortController;
  hurry: AbortController;
  done: Promise<void>;
}

export class DhcpRenewals {
  readonly #d: RenewalsDeps;
  /** endpoint ID → the background start under way (aborted by Leave, or hurried when Leave must release) */
  readonly #starting = new Map<string, Start>();
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: RenewalsDeps) {
    this.#d = deps;
  }

  /** Called once by the daemon after the first reconciliation: the periodic look at the lease files. */
  watchLeases(): void {
    this.#timer ??= setInterval(() => void this.checkLeases(), LEASE_CHECK_MS).unref();
  }

  /**
   * Called by Join of a DHCP endpoint, which answers at once: in the
   * background, waits (bounded) until the container's interface holds the
   * lease's address in `sandboxKey`, learns the container and its hostname
   * from Docker (optional, bounded), saves them and the sandbox in the
   * record, then starts the renewal client. Failures are logged.
   */
  afterJoin(ep: EndpointRecord, sandboxKey: string): void {
    this.#launch(ep.id, sandboxKey, true);
  }

  /**
   * Called by Leave (and DeleteEndpoint): cancels a start under way and stops
   * the endpoint's renewal client, sending DHCPRELEASE first when `release`.
   * Bounded (DhcpClient.stopRenewal); a client already gone is success.
   */
  async stop(endpointId: string, release: boolean): Promise<void> {
    const start = this.#starting.get(endpointId);
    if (start && release) {
      // a container that stops before its client is bound: the client starts now (no hostname), so that it can release
      start.hurry.abort();
      await Promise.race([start.done, sleep(HURRY_WAIT_MS)]);
    }
    start?.abort.abort();
    this.#starting.delete(endpointId);
    await this.#d.dhcp.stopRenewal(endpointId, release);
  }

  /**
   * Reconciliation (runs alone): a renewal client whose endpoint is gone is
   * stopped (`dhcp-client-orphan`); a DHCP endpoint joined to a sandbox that
   * still exists and whose client is not running gets one again, in the
   * background (`dhcp-client-missing`), asking for its address: the
   * container does not notice. Clients still running are adopted as they are.
   */
  async reconcile(act: RenewalAct): Promise<void> {
    const running = this.#d.dhcp.running();
    for (const [id, pid] of running) {
      if (this.#d.state.endpoint(id)?.dhcp || this.#starting.has(id)) continue;
      act('dhcp-client-orphan', { endpoint: shortId(id), pid });
      await this.#d.dhcp.stopRenewal(id, false);
    }
    for (const ep of this.#d.state.endpoints()) {
      const key = ep.dhcp?.sandboxKey;
      if (!key || running.has(ep.id) || this.#starting.has(ep.id) || !existsSync(key)) continue;
      act('dhcp-client-missing', { endpoint: shortId(ep.id), address: ep.addressV4 });
      this.#d.locks.outside(() => this.#launch(ep.id, key, false));
    }
  }

  /**
   * Every LEASE_CHECK_MS: the lease each renewal client's hook last wrote. An
   * address other than the record's (the server handed back another on
   * renewal; the hook has already put it on the interface) is logged and saved
   * in the record, which `ovsvlan status` shows with the first address.
   */
  async checkLeases(): Promise<void> {
    for (const ep of this.#d.state.endpoints()) {
      if (!ep.dhcp) continue;
      const lease = this.#d.dhcp.leaseOf(ep.id);
      if (!lease || lease.address === ep.addressV4) continue;
      await this.#d.locks.run(endpointLockKey(ep.id), () => this.#saveChange(ep.id, lease))
        .catch((err: unknown) => this.#d.log.error({ err, endpoint: shortId(ep.id) }, 'dhcp address change not saved; tried again'));
    }
  }

  /** Stops the periodic look; renewal clients keep running (they outlive the daemon). */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const start of this.#starting.values()) start.abort.abort();
  }

  async #saveChange(endpointId: string, lease: Lease): Promise<void> {
    const ep = this.#d.state.endpoint(endpointId);
    if (!ep?.dhcp || lease.address === ep.addressV4) return;
    this.#d.log.warn({ endpoint: shortId(ep.id), network: shortId(ep.networkId), from: ep.addressV4, to: lease.address, first: ep.dhcp.firstAddress,
      server: lease.serverId }, `dhcp address changed: the server handed back ${lease.address} instead of ${ep.addressV4 ?? '-'}`);
    await this.#d.state.putEndpoint({ ...ep, addressV4: lease.address, dhcp: { ...ep.dhcp, lease } });
  }

  /**
   * Docker's container of the endpoint, asked a few times: Docker lists the
   * endpoint only once the container's start is recorded, a moment after the
   * sandbox is set up. Undefined without Docker or after CONTAINER_TRIES.
   */
  async #containerOf(endpointId: string, signal: AbortSignal, hurry: AbortSignal): Promise<{ id: string; hostname: string } | undefined> {
    for (let i = 0; i < CONTAINER_TRIES && this.#d.containerOf && !signal.aborted && !hurry.aborted; i++) {
      const found = await this.#d.containerOf(endpointId).catch(() => undefined);
      if (found) return found;
      await sleep(CONTAINER_PAUSE_MS);
    }
    return undefined;
  }

  #launch(endpointId: string, sandboxKey: string, joined: boolean): void {
    this.#starting.get(endpointId)?.abort.abort();
    const abort = new AbortController();
    const hurry = new AbortController();
    const done = this.#start(endpointId, sandboxKey, joined, abort.signal, hurry.signal)
      .catch((err: unknown) => {
        if (!abort.signal.aborted) this.#d.log.error({ err, endpoint: shortId(endpointId) }, `dhcp renewal client not started: ${(err as Error).message}`);
      })
      .finally(() => {
        if (this.#starting.get(endpointId)?.abort === abort) this.#starting.delete(endpointId);
      });
    this.#starting.set(endpointId, { abort, hurry, done });
  }

  /**
   * The background start: sandbox ready, container and hostname learned and
   * saved, client started. `signal`: Leave came, give up (a client that
   * started meanwhile is stopped); `hurry`: Leave must release, so the client
   * starts without waiting for the hostname, and this resolves once it is bound.
   */
  async #start(endpointId: string, sandboxKey: string, joined: boolean, signal: AbortSignal, hurry: AbortSignal): Promise<void> {
    const first = this.#d.state.endpoint(endpointId);
    if (!first?.dhcp || !first.addressV4) return;
    const address = first.addressV4.split('/')[0] ?? '';
    if (joined) {
      await waitForAddressIn(sandboxKey, address, SANDBOX_WAIT_MS, signal);
      const container = await this.#containerOf(endpointId, signal, hurry);
      if (signal.aborted) return;
      await this.#d.locks.run(endpointLockKey(endpointId), async () => {
        const ep = this.#d.state.endpoint(endpointId);
        if (!ep?.dhcp || signal.aborted) return;
        const identity = { ...ep.dhcp.identity, hostname: container?.hostname || ep.dhcp.identity.hostname };
        await this.#d.state.putEndpoint({ ...ep, dhcp: { ...ep.dhcp, identity, sandboxKey, ...(container ? { containerId: container.id } : {}) } });
      });
    }
    const ep = this.#d.state.endpoint(endpointId);
    const net = ep && this.#d.state.network(ep.networkId);
    if (!ep?.dhcp || !net?.dhcp || signal.aborted) return;
    await this.#d.dhcp.startRenewal({ endpointId, sandboxKey, identity: ep.dhcp.identity, address: (ep.addressV4 ?? address).split('/')[0] ?? address,
      gateway: net.dhcp.gateway });
    // Leave came while it started: what started goes again
    if (signal.aborted) await this.#d.dhcp.stopRenewal(endpointId, false);
    else if (hurry.aborted) await this.#bound(endpointId, signal);
  }

  /** Waits (bounded) until the endpoint's renewal client is bound: its hook wrote the lease file. */
  async #bound(endpointId: string, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + BOUND_WAIT_MS;
    while (!this.#d.dhcp.leaseOf(endpointId) && !signal.aborted && Date.now() < deadline) await sleep(POLL_MS);
  }
}
