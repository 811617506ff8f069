// The network driver as one object: each Docker call, implemented in the file
// named after its lifecycle phase (network.ts, endpoint.ts, join.ts).
import type { DriverContext } from './context.js';
import { createEndpoint, deleteEndpoint, endpointOf, type CreateEndpointRequest } from './endpoint.js';
import { join, leave, type JoinResult } from './join.js';
import { createNetwork, deleteNetwork, type CreateNetworkRequest } from './network.js';

export type { CreateEndpointRequest, CreateNetworkRequest, JoinResult };

export class NetworkDriver {
  readonly #ctx: DriverContext;
  constructor(ctx: DriverContext) {
    this.#ctx = ctx;
  }

  /** `created`: false for a retry of a network that exists already. */
  createNetwork(req: CreateNetworkRequest): Promise<{ created: boolean }> {
    return createNetwork(this.#ctx, req);
  }
  /** Resolves to the IDs of the stale endpoints removed with the network. */
  deleteNetwork(networkId: string): Promise<string[]> {
    return deleteNetwork(this.#ctx, networkId);
  }
  /** `created`: false for a retry of an endpoint that exists already. */
  createEndpoint(req: CreateEndpointRequest): Promise<{ created: boolean }> {
    return createEndpoint(this.#ctx, req);
  }
  deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    return deleteEndpoint(this.#ctx, networkId, endpointId);
  }
  join(networkId: string, endpointId: string): JoinResult {
    return join(this.#ctx, networkId, endpointId);
  }
  leave(networkId: string, endpointId: string): void {
    leave(this.#ctx, networkId, endpointId);
  }
  /** For the calls that change nothing (EndpointOperInfo, Program/RevokeExternalConnectivity): refuses another network's endpoint, as every call does. */
  checkEndpoint(networkId: string, endpointId: string): void {
    endpointOf(this.#ctx, networkId, endpointId);
  }
}
