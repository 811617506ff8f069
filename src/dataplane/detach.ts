// The second half of DeleteEndpoint, after Docker has its answer: the ports
// of every endpoint deleted meanwhile leave the bridge in one OVSDB
// transaction (one reconfiguration of ovs-vswitchd for all of them), then
// each veth is deleted (the kernel's teardown, ~18 ms a pair). Nothing here
// is needed for correctness of what Docker sees: the record is gone already.
// A crash before it is done leaves a port marked for an endpoint with no
// record and a veth no record names: reconciliation's port-orphan and
// link-orphan rules remove them, with no grace period.
import { deleteLink, getLink } from '../link/links.js';
import { linkMark, portExternalIds, shortId, spareExternalIds, spareMark } from '../names.js';
import type { EndpointRecord } from '../store/records.js';
import type { DataplaneContext } from './context.js';

export interface DetachItem {
  ep: EndpointRecord;
  /** its record existed when it was deleted: a link named by it and marked as a spare of its network, or unmarked (made before marks), is its own */
  recorded: boolean;
  /** called once the batch that took it is done */
  done: () => void;
}

export class Detacher {
  readonly #ctx: DataplaneContext;
  #queue: DetachItem[] = [];
  /** endpoint ID → its network and the run that takes it away */
  readonly #pending = new Map<string, { networkId: string; run: Promise<void> }>();
  #running: Promise<void> | undefined;

  constructor(ctx: DataplaneContext) {
    this.#ctx = ctx;
  }

  /**
   * Queues an endpoint's port and veth for removal in the background; never
   * throws. `after`: what must be done first (the re-mark of the spare handed
   * to it; it never rejects). The port goes when it carries the endpoint's
   * marks, or, `recorded`, a spare's of its network: the spare handed to it
   * whose re-mark failed (its record named it, and spare names are random).
   */
  enqueue(ep: EndpointRecord, recorded: boolean, after?: Promise<void>): void {
    const queue = (): Promise<void> => new Promise<void>((done) => {
      this.#queue.push({ ep, recorded, done });
      this.#kick();
    });
    const run = after ? after.then(queue) : queue();
    this.#pending.set(ep.id, { networkId: ep.networkId, run });
    void run.finally(() => {
      if (this.#pending.get(ep.id)?.run === run) this.#pending.delete(ep.id);
    });
  }

  /** Resolves once the endpoint's removal (if one is queued or running) is done: a create of the same ID waits for it. */
  settled(endpointId: string): Promise<void> {
    return this.#pending.get(endpointId)?.run ?? Promise.resolve();
  }

  /**
   * Resolves once nothing is queued or running (reconciliation, close), or,
   * given a network, once none of its endpoints is (DeleteNetwork: those of
   * other networks are not waited for).
   */
  async idle(networkId?: string): Promise<void> {
    const runs = (): Array<Promise<void>> =>
      [...this.#pending.values()].filter((p) => networkId === undefined || p.networkId === networkId).map((p) => p.run);
    while (runs().length > 0 || (networkId === undefined && this.#running)) await Promise.all([networkId === undefined ? this.#running : undefined, ...runs()]);
  }

  /**
   * Starts a run unless one is going; a run takes everything queued, then
   * looks again. An item queued after the run's last look (its drain has
   * returned, its `finally` not yet run) starts the next run.
   */
  #kick(): void {
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    // let the answer go out first, and let other deletes of this moment join the batch
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      await this.#detach(batch);
    }
  }

  async #detach(batch: DetachItem[]): Promise<void> {
    const { vswitch, log } = this.#ctx;
    try {
      await vswitch.detachPorts(batch.flatMap(portMarks), { wait: true });
    } catch (err) {
      log.error({ err, ports: batch.length }, `background port removal failed: ${(err as Error).message}; reconciliation will finish it`);
    }
    for (const item of batch) {
      try {
        await this.#deleteVeth(item);
      } catch (err) {
        log.error({ err, endpoint: shortId(item.ep.id), port: item.ep.hostIf }, 'background veth removal failed; reconciliation will finish it');
      }
    }
    for (const item of batch) item.done();
    log.debug({ endpoints: batch.length }, 'endpoints detached');
  }

  /** Deletes the pair when its mark says it is this endpoint's; the host end takes the container end with it. */
  async #deleteVeth({ ep, recorded }: DetachItem): Promise<void> {
    for (const name of [ep.hostIf, ep.containerIf]) {
      const link = await getLink(name);
      if (!link) continue;
      const legacy = recorded && (link.alias === undefined || link.alias === spareMark(ep.networkId));
      // a record made since with the same name (a retry with its ID) keeps its link
      const claimed = this.#ctx.state.endpointsByLink(name).length > 0;
      if (!claimed && (link.alias === linkMark(ep.id) || legacy)) await deleteLink(name);
    }
  }
}

/** The marks under which an item's port is removed: the endpoint's, and a spare's of its network when its record named the port. */
function portMarks({ ep, recorded }: DetachItem): Array<{ name: string; marks: Record<string, string> }> {
  const own = { name: ep.hostIf, marks: portExternalIds(ep.networkId, ep.id) };
  return recorded ? [own, { name: ep.hostIf, marks: spareExternalIds(ep.networkId) }] : [own];
}
