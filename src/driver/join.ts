// Join / Leave: hand Docker the container end of the veth, the gateway and
// routes. Docker itself moves the link, names it ethN and sets the addresses.
import { NotFoundError } from '../errors.js';
import type { DriverContext } from './context.js';
import { endpointOf } from './endpoint.js';
import { shortId } from '../names.js';
import { holds, parseInterfaceAddress, parseAddress } from '../ipam/address.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';

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
 * A DHCP network's endpoint gets the router its lease gave (dhcp_gateway=server),
 * and its renewal client is started in the background once Docker has set up
 * the sandbox `sandboxKey` (dhcp-renewal.ts): Join itself waits for nothing.
 */
export function join(ctx: DriverContext, networkId: string, endpointId: string, sandboxKey: string): JoinResult {
  const net = ctx.state.requireNetwork(networkId);
  const ep = endpointOf(ctx, networkId, endpointId);
  if (!ep) throw new NotFoundError(`endpoint ${shortId(endpointId)} of network ${shortId(networkId)} is not known to ovsvlan`);
  if (ep.dhcp && sandboxKey) ctx.renewals.afterJoin(ep, sandboxKey);
  return {
    srcName: ep.containerIf,
    dstPrefix: 'eth',
    gatewayV4: net.internal ? undefined : net.dhcp ? leaseGateway(net, ep) : net.gatewayV4,
    gatewayV6: net.internal || !ep.addressV6 ? undefined : net.gatewayV6,
  };
}

/** A DHCP endpoint's gateway: its lease's router when dhcp_gateway=server and the router is on the lease's subnet (else Docker could not reach it). */
function leaseGateway(net: NetworkRecord, ep: EndpointRecord): string | undefined {
  const router = ep.dhcp?.lease.router;
  if (net.dhcp?.gateway !== 'server' || !router || !ep.addressV4) return undefined;
  const subnet = parseInterfaceAddress(ep.addressV4)?.subnet;
  const r = parseAddress(router);
  return subnet && r && holds(subnet, r) ? router : undefined;
}

/**
 * Leave is invoked when the sandbox detaches (container stop, network
 * disconnect), before Docker moves the interface back to the host. The veth
 * is removed in DeleteEndpoint, which follows. An unknown endpoint is success;
 * another network's is refused. A DHCP endpoint's renewal client is stopped
 * (bounded), releasing the lease first with dhcp_release=stop: the interface
 * is still in the container then.
 */
export async function leave(ctx: DriverContext, networkId: string, endpointId: string): Promise<void> {
  const ep = endpointOf(ctx, networkId, endpointId);
  ctx.log.debug({ network: shortId(networkId), endpoint: shortId(endpointId) }, 'leave');
  if (!ep?.dhcp) return;
  const release = ctx.state.network(networkId)?.dhcp?.release === 'stop';
  await ctx.renewals.stop(endpointId, release);
  ctx.log.info({ network: shortId(networkId), endpoint: shortId(endpointId), address: ep.addressV4, released: release }, 'dhcp renewal stopped');
}
