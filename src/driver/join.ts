// Join / Leave: hand Docker the container end of the veth, the gateway and
// routes. Docker itself moves the link, names it ethN and sets the addresses.
import { NotFoundError } from '../errors.js';
import type { DriverContext } from './context.js';
import { endpointOf } from './endpoint.js';
import { shortId } from '../names.js';

export interface JoinResult {
  /** Link in the host namespace that Docker moves into the sandbox. */
  srcName: string;
  /** Docker names it `${dstPrefix}N`. */
  dstPrefix: string;
  gatewayV4: string | undefined;
  gatewayV6: string | undefined;
}

/**
 * Join is invoked when the container's sandbox is attached to the endpoint,
 * right after CreateEndpoint. It changes nothing: the veth pair and port exist
 * already. An --internal network gets no gateway. The endpoint must be the
 * network's own: another network's gateway is never handed out.
 */
export function join(ctx: DriverContext, networkId: string, endpointId: string): JoinResult {
  const net = ctx.state.requireNetwork(networkId);
  const ep = endpointOf(ctx, networkId, endpointId);
  if (!ep) throw new NotFoundError(`endpoint ${shortId(endpointId)} of network ${shortId(networkId)} is not known to ovsvlan`);
  return {
    srcName: ep.containerIf,
    dstPrefix: 'eth',
    gatewayV4: net.internal ? undefined : net.gatewayV4,
    gatewayV6: net.internal || !ep.addressV6 ? undefined : net.gatewayV6,
  };
}

/**
 * Leave is invoked when the sandbox detaches (container stop, network
 * disconnect), before Docker moves the interface back to the host. The veth
 * is removed in DeleteEndpoint, which follows. An unknown endpoint is success;
 * another network's is refused.
 */
export function leave(ctx: DriverContext, networkId: string, endpointId: string): void {
  endpointOf(ctx, networkId, endpointId);
  ctx.log.debug({ network: shortId(networkId), endpoint: shortId(endpointId) }, 'leave');
}
