// The protocol as a table: path → handler. Each handler reads its typed
// request (requests.ts: every field checked before a driver sees it), makes
// one driver call and maps the result back to the wire; no logic lives here
// (a call that is two steps, such as CreateEndpoint's port and address
// claim, is sequenced and undone by the driver).
import type { NetworkDriver } from '../driver/driver.js';
import type { IpamDriver } from '../ipam/driver.js';
import type { Body } from './decode.js';
import {
  connectivityReq, createEndpointReq, createNetworkReq, endpointReq, gwAllocCheckReq, joinReq, networkReq, poolReq, releaseAddressReq,
  requestAddressReq, requestPoolReq,
} from './requests.js';
import type {
  ActivateRes, AddressSpacesRes, CapabilitiesRes, CreateEndpointRes, GwAllocCheckRes, IpamCapabilitiesRes, JoinRes, RequestAddressRes,
  RequestPoolRes,
} from './types.js';

export type Handler = (body: Body) => Promise<object> | object;

export function routes(driver: NetworkDriver, ipam: IpamDriver): Record<string, Handler> {
  return {
    '/Plugin.Activate': (): ActivateRes => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),

    '/NetworkDriver.GetCapabilities': (): CapabilitiesRes => ({ Scope: 'local', ConnectivityScope: 'local', GwAllocChecker: true }),

    /**
     * 28.0+, before any IPAM call of `docker network create`: an --internal
     * network gets no default route from ovsvlan (Join hands no gateway), so
     * Docker need not reserve a gateway address for it unless --gateway is given.
     */
    '/NetworkDriver.GwAllocCheck': (b): GwAllocCheckRes => {
      const { internal } = gwAllocCheckReq(b);
      return { SkipIPv4: internal, SkipIPv6: internal };
    },

    '/NetworkDriver.CreateNetwork': async (b) => {
      await driver.createNetwork(createNetworkReq(b));
      return {};
    },

    '/NetworkDriver.DeleteNetwork': async (b) => {
      await driver.deleteNetwork(networkReq(b).networkId);
      return {};
    },

    '/NetworkDriver.CreateEndpoint': async (b): Promise<CreateEndpointRes> => {
      const { iface } = await driver.createEndpoint(createEndpointReq(b));
      // never an address or a MAC Docker gave: Docker refuses a value it already has, even the same one.
      // A DHCP network's endpoint had none: its lease's address, and the MAC ovsvlan chose when Docker gave none
      if (!iface) return { Interface: {} };
      return { Interface: { Address: iface.address, ...(iface.mac ? { MacAddress: iface.mac } : {}) } };
    },

    '/NetworkDriver.DeleteEndpoint': async (b) => {
      const req = endpointReq(b);
      await driver.deleteEndpoint(req.networkId, req.endpointId);
      return {};
    },

    '/NetworkDriver.EndpointOperInfo': (b) => {
      const req = endpointReq(b);
      driver.checkEndpoint(req.networkId, req.endpointId);
      return { Value: {} };
    },

    '/NetworkDriver.Join': (b): JoinRes => {
      const req = joinReq(b);
      const r = driver.join(req.networkId, req.endpointId, req.sandboxKey);
      const res: JoinRes = { InterfaceName: { SrcName: r.srcName, DstPrefix: r.dstPrefix }, DisableGatewayService: true };
      if (r.gatewayV4) res.Gateway = r.gatewayV4;
      if (r.gatewayV6) res.GatewayIPv6 = r.gatewayV6;
      return res;
    },

    '/NetworkDriver.Leave': async (b) => {
      const req = endpointReq(b);
      await driver.leave(req.networkId, req.endpointId);
      return {};
    },

    // Nothing to do for a VLAN on a bridge (no NAT, no port maps); answered so that no Docker version sees a 404.
    // 28/29 may send them again for the same endpoint, for IPv6-only gateways and internal networks too.
    '/NetworkDriver.ProgramExternalConnectivity': (b) => {
      const req = connectivityReq(b);
      driver.checkEndpoint(req.networkId, req.endpointId);
      return {};
    },
    '/NetworkDriver.RevokeExternalConnectivity': (b) => {
      const req = connectivityReq(b);
      driver.checkEndpoint(req.networkId, req.endpointId);
      return {};
    },
    // Swarm only (a ConnectivityScope or Scope of global); ovsvlan is local, but never answers 404.
    '/NetworkDriver.DiscoverNew': () => ({}),
    '/NetworkDriver.DiscoverDelete': () => ({}),
    '/NetworkDriver.AllocateNetwork': (b) => {
      networkReq(b);
      return { Options: {} };
    },
    '/NetworkDriver.FreeNetwork': (b) => {
      networkReq(b);
      return {};
    },

    // ---- IpamDriver (replies use HTTP 500 {"Err"} for errors, like the network driver)
    '/IpamDriver.GetCapabilities': (): IpamCapabilitiesRes => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),

    /** 27.0+ calls it before every RequestPool, too. */
    '/IpamDriver.GetDefaultAddressSpaces': (): AddressSpacesRes => {
      const s = ipam.addressSpaces();
      return { LocalDefaultAddressSpace: s.local, GlobalDefaultAddressSpace: s.global };
    },

    '/IpamDriver.RequestPool': async (b): Promise<RequestPoolRes> => {
      const r = await ipam.requestPool(requestPoolReq(b));
      return { PoolID: r.poolId, Pool: r.pool, Data: {} };
    },

    '/IpamDriver.ReleasePool': async (b) => {
      await ipam.releasePool(poolReq(b).poolId);
      return {};
    },

    '/IpamDriver.RequestAddress': async (b): Promise<RequestAddressRes> => {
      const req = requestAddressReq(b);
      return { Address: await ipam.requestAddress(req.poolId, req.address || undefined, req.gateway), Data: {} };
    },

    '/IpamDriver.ReleaseAddress': async (b) => {
      const req = releaseAddressReq(b);
      await ipam.releaseAddress(req.poolId, req.address);
      return {};
    },
  };
}
