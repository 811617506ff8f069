// The protocol as a table: path → handler. Each handler maps the wire request
// to a driver call and the result back to the wire; no logic lives here.
import type { NetworkDriver } from '../driver/driver.js';
import type { IpamPool } from '../driver/network.js';
import { arr, obj, optStr, str, type Body } from './decode.js';
import type { ActivateRes, CapabilitiesRes, CreateEndpointRes, JoinRes } from './types.js';

export type Handler = (body: Body) => Promise<object> | object;

const GENERIC = 'com.docker.network.generic';
const INTERNAL = 'com.docker.network.internal';

export function routes(driver: NetworkDriver): Record<string, Handler> {
  return {
    '/Plugin.Activate': (): ActivateRes => ({ Implements: ['NetworkDriver'] }),

    '/NetworkDriver.GetCapabilities': (): CapabilitiesRes => ({ Scope: 'local', ConnectivityScope: 'local' }),

    '/NetworkDriver.CreateNetwork': async (b) => {
      const options = obj(b, 'Options');
      await driver.createNetwork({
        id: str(b, 'NetworkID'),
        options: obj(options, GENERIC),
        internal: options[INTERNAL] === true,
        ipv4: pools(arr(b, 'IPv4Data')),
        ipv6: pools(arr(b, 'IPv6Data')),
      });
      return {};
    },

    '/NetworkDriver.DeleteNetwork': async (b) => {
      await driver.deleteNetwork(str(b, 'NetworkID'));
      return {};
    },

    '/NetworkDriver.CreateEndpoint': async (b): Promise<CreateEndpointRes> => {
      const iface = obj(b, 'Interface');
      await driver.createEndpoint({
        networkId: str(b, 'NetworkID'),
        endpointId: str(b, 'EndpointID'),
        addressV4: optStr(iface, 'Address'),
        addressV6: optStr(iface, 'AddressIPv6'),
      });
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
  };
}

function pools(items: unknown[]): IpamPool[] {
  return items
    .filter((p): p is Body => typeof p === 'object' && p !== null)
    .map((p) => ({ pool: optStr(p, 'Pool') ?? '', gateway: optStr(p, 'Gateway') }));
}
