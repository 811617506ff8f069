// The protocol as a table: path → handler. Each handler maps the wire request
// to a driver call and the result back to the wire; no logic lives here.
import type { NetworkDriver } from '../driver/driver.js';
import type { IpamDriver, NetworkPool } from '../ipam/driver.js';
import { arr, obj, optStr, str, type Body } from './decode.js';
import type {
  ActivateRes, AddressSpacesRes, CapabilitiesRes, CreateEndpointRes, IpamCapabilitiesRes, JoinRes, RequestAddressRes, RequestPoolRes,
} from './types.js';

export type Handler = (body: Body) => Promise<object> | object;

const GENERIC = 'com.docker.network.generic';
const INTERNAL = 'com.docker.network.internal';
/** RequestAddress option that marks the network's gateway. */
const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
const GATEWAY_TYPE = 'com.docker.network.gateway';

export function routes(driver: NetworkDriver, ipam: IpamDriver): Record<string, Handler> {
  return {
    '/Plugin.Activate': (): ActivateRes => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),

    '/NetworkDriver.GetCapabilities': (): CapabilitiesRes => ({ Scope: 'local', ConnectivityScope: 'local' }),

    '/NetworkDriver.CreateNetwork': async (b) => {
      const options = obj(b, 'Options');
      const id = str(b, 'NetworkID');
      const ipv4 = pools(arr(b, 'IPv4Data'));
      const ipv6 = pools(arr(b, 'IPv6Data'));
      await driver.createNetwork({ id, options: obj(options, GENERIC), internal: options[INTERNAL] === true, ipv4, ipv6 });
      await ipam.bindNetwork(id, [...ipv4, ...ipv6]);
      return {};
    },

    '/NetworkDriver.DeleteNetwork': async (b) => {
      await driver.deleteNetwork(str(b, 'NetworkID'));
      return {};
    },

    '/NetworkDriver.CreateEndpoint': async (b): Promise<CreateEndpointRes> => {
      const iface = obj(b, 'Interface');
      const req = {
        networkId: str(b, 'NetworkID'),
        endpointId: str(b, 'EndpointID'),
        addressV4: optStr(iface, 'Address'),
        addressV6: optStr(iface, 'AddressIPv6'),
      };
      await driver.createEndpoint(req);
      await ipam.claimAddresses(req.networkId, req.endpointId, [req.addressV4, req.addressV6]);
      return { Interface: {} };
    },

    '/NetworkDriver.DeleteEndpoint': async (b) => {
      await driver.deleteEndpoint(str(b, 'NetworkID'), str(b, 'EndpointID'));
      return {};
    },

    '/NetworkDriver.EndpointOperInfo': () => ({ Value: {} }),

    '/NetworkDriver.Join': (b): JoinRes => {
      const r = driver.join(str(b, 'NetworkID'), str(b, 'EndpointID'));
      const res: JoinRes = { InterfaceName: { SrcName: r.srcName, DstPrefix: r.dstPrefix }, DisableGatewayService: true };
      if (r.gatewayV4) res.Gateway = r.gatewayV4;
      if (r.gatewayV6) res.GatewayIPv6 = r.gatewayV6;
      return res;
    },

    '/NetworkDriver.Leave': (b) => {
      driver.leave(str(b, 'NetworkID'), str(b, 'EndpointID'));
      return {};
    },

    // Calls that carry nothing for a local VLAN driver, answered so that no Docker version sees a 404.
    '/NetworkDriver.ProgramExternalConnectivity': () => ({}),
    '/NetworkDriver.RevokeExternalConnectivity': () => ({}),
    '/NetworkDriver.DiscoverNew': () => ({}),
    '/NetworkDriver.DiscoverDelete': () => ({}),
    '/NetworkDriver.AllocateNetwork': () => ({ Options: {} }),
    '/NetworkDriver.FreeNetwork': () => ({}),
    '/NetworkDriver.GwAllocCheck': () => ({ SkipIPv4: false, SkipIPv6: false }),

    // ---- IpamDriver (replies use HTTP 500 {"Err"} for errors, like the network driver)
    '/IpamDriver.GetCapabilities': (): IpamCapabilitiesRes => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),

    '/IpamDriver.GetDefaultAddressSpaces': (): AddressSpacesRes => {
      const s = ipam.addressSpaces();
      return { LocalDefaultAddressSpace: s.local, GlobalDefaultAddressSpace: s.global };
    },

    '/IpamDriver.RequestPool': async (b): Promise<RequestPoolRes> => {
      const r = await ipam.requestPool({
        // always sent: an empty body is Docker's retry of a call whose connection broke
        addressSpace: str(b, 'AddressSpace'),
        pool: optStr(b, 'Pool') ?? '',
        subPool: optStr(b, 'SubPool') ?? '',
        v6: b['V6'] === true,
      });
      return { PoolID: r.poolId, Pool: r.pool, Data: {} };
    },

    '/IpamDriver.ReleasePool': async (b) => {
      await ipam.releasePool(str(b, 'PoolID'));
      return {};
    },

    '/IpamDriver.RequestAddress': async (b): Promise<RequestAddressRes> => {
      const gateway = obj(b, 'Options')[REQUEST_ADDRESS_TYPE] === GATEWAY_TYPE;
      return { Address: await ipam.requestAddress(str(b, 'PoolID'), optStr(b, 'Address'), gateway), Data: {} };
    },

    '/IpamDriver.ReleaseAddress': async (b) => {
      await ipam.releaseAddress(str(b, 'PoolID'), str(b, 'Address'));
      return {};
    },
  };
}

function pools(items: unknown[]): NetworkPool[] {
  return items
    .filter((p): p is Body => typeof p === 'object' && p !== null)
    .map((p) => ({
      pool: optStr(p, 'Pool') ?? '',
      gateway: optStr(p, 'Gateway'),
      aux: Object.fromEntries(Object.entries(obj(p, 'AuxAddresses')).filter((e): e is [string, string] => typeof e[1] === 'string')),
    }));
}
