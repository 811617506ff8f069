// The IPAM driver as one object for the protocol table.
import { bindNetwork, claimAddresses, releaseEndpoints, unheldSubnets } from './bind.js';
import type { IpamPool } from '../model.js';
import {
  GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE, releaseAddress, releasePool, requestAddress, requestPool,
  type IpamContext, type PoolRequest,
} from './ipam.js';

export type { PoolRequest };

export class IpamDriver {
  readonly #ctx: IpamContext;
  constructor(ctx: IpamContext) {
    this.#ctx = ctx;
  }

  addressSpaces(): { local: string; global: string } {
    return { local: LOCAL_ADDRESS_SPACE, global: GLOBAL_ADDRESS_SPACE };
  }
  requestPool(req: PoolRequest): Promise<{ poolId: string; pool: string }> {
    return requestPool(this.#ctx, req);
  }
  releasePool(poolId: string): Promise<void> {
    return releasePool(this.#ctx, poolId);
  }
  requestAddress(poolId: string, address: string | undefined, gateway: boolean): Promise<string> {
    return requestAddress(this.#ctx, poolId, address, gateway);
  }
  releaseAddress(poolId: string, address: string): Promise<void> {
    return releaseAddress(this.#ctx, poolId, address);
  }
  bindNetwork(networkId: string, pools: readonly IpamPool[], hostIp?: string): Promise<void> {
    return bindNetwork(this.#ctx, networkId, pools, hostIp);
  }
  unheldSubnets(networkId: string, pools: readonly IpamPool[]): string[] {
    return unheldSubnets(this.#ctx, networkId, pools);
  }
  claimAddresses(networkId: string, endpointId: string, addresses: readonly (string | undefined)[]): Promise<void> {
    return claimAddresses(this.#ctx, networkId, endpointId, addresses);
  }
  releaseEndpoints(networkId: string, endpointIds: readonly string[]): Promise<void> {
    return releaseEndpoints(this.#ctx, networkId, endpointIds);
  }
}
