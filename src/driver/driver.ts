// The network driver as one object: each Docker call, implemented in the file
// named after its lifecycle phase (network.ts, endpoint.ts, join.ts). The
// order Docker calls them in, per container: CreateEndpoint → Join →
// (ProgramExternalConnectivity) → … → (RevokeExternalConnectivity) → Leave →
// DeleteEndpoint; per network: CreateNetwork … DeleteNetwork.
import type { CreateEndpointReq, CreateNetworkReq } from '../protocol/types.js';
import type { DriverContext } from './context.js';
import { createEndpoint, deleteEndpoint, endpointOf, type CreatedEndpoint } from './endpoint.js';
import { join, leave, type JoinResult } from './join.js';
import { createNetwork, deleteNetwork } from './network.js';

export type { JoinResult };

export class NetworkDriver {
  readonly #ctx: DriverContext;
  constructor(ctx: DriverContext) {
    this.#ctx = ctx;
  }

  /** `docker network create`: the network, then the IPAM's pools bound to it. `created`: false for a retry of a network that exists already. */
  createNetwork(req: CreateNetworkReq): Promise<{ created: boolean }> {
    return createNetwork(this.#ctx, req);
  }
  /** `docker network rm`: the network, and the leases of the stale endpoints removed with it. */
  deleteNetwork(networkId: string): Promise<void> {
    return deleteNetwork(this.#ctx, networkId);
  }
  /**
   * A container connected: its port and record, and the claim of its addresses (on a DHCP network: its first lease, answered as `iface`).
   * `created`: false for a retry of an endpoint that exists already.
   */
  createEndpoint(req: CreateEndpointReq): Promise<CreatedEndpoint> {
    return createEndpoint(this.#ctx, req);
  }
  /** A container disconnected, after Leave: answered once the record is gone; port and veth follow in the background. */
  deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    return deleteEndpoint(this.#ctx, networkId, endpointId);
  }
  /** The sandbox (`sandboxKey`, its netns) attached, right after CreateEndpoint: answered from the record. */
  join(networkId: string, endpointId: string, sandboxKey: string): JoinResult {
    return join(this.#ctx, networkId, endpointId, sandboxKey);
  }
  /** The sandbox detached, before DeleteEndpoint (a DHCP endpoint's renewal client stopped). */
  leave(networkId: string, endpointId: string): Promise<void> {
    return leave(this.#ctx, networkId, endpointId);
  }
  /** For the calls that change nothing (EndpointOperInfo, Program/RevokeExternalConnectivity): refuses another network's endpoint, as every call does. */
  checkEndpoint(networkId: string, endpointId: string): void {
    endpointOf(this.#ctx, networkId, endpointId);
  }
}
