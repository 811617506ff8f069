// What every driver phase works with. Built once by the daemon.
import type { DatapathType } from '../vswitch/datapath.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { DataplaneContext } from '../dataplane/context.js';
import type { IpamDriver } from '../ipam/driver.js';
import type { ClusterNetworks } from '../cluster/types.js';
import type { DhcpClient } from '../dhcp/types.js';
import type { DhcpRenewals } from './dhcp-renewal.js';
import type { ParkedReleases } from '../reconcile/dhcp-release.js';

/** What the driver asks of cluster mode (cluster/cluster.ts ClusterMode gives it). */
export interface DriverCluster {
  /** network definitions in etcd: joined at CreateNetwork, left at DeleteNetwork */
  readonly networks: ClusterNetworks;
  /** this host's tunnel endpoint, and the MTU of the interface holding it: a mesh overlay's MTU is that less the tunnel's overhead */
  readonly underlayIp: string;
  readonly underlayMtu: number;
  /** A mesh run soon: a mesh network was just created and needs its tunnels to the cluster's hosts. */
  kickMesh(reason: string): void;
}

/** What the driver asks of the IPAM: the records that tie leases and pools to its endpoints and networks. */
export type AddressBook = Pick<IpamDriver, 'bindNetwork' | 'unheldSubnets' | 'claimAddresses' | 'releaseEndpoints'>;

export interface DriverContext extends DataplaneContext {
  readonly plane: Dataplane;
  readonly ipam: AddressBook;
  /** OVSVLAN_BRIDGE: the bridge of networks that name none. */
  readonly defaultBridge: string;
  /** OVSVLAN_DATAPATH, resolved: the datapath of bridges ovsvlan creates. */
  readonly datapath: DatapathType;
  /** OVSVLAN_ETCD set: networks are joined in etcd by their identity; absent: local mode. */
  readonly cluster?: DriverCluster;
  /** DHCP networks (issue 12): the first lease at CreateEndpoint */
  readonly dhcp: DhcpClient;
  /** DHCP networks: the renewal clients, started after Join and stopped at Leave, in the background */
  readonly renewals: DhcpRenewals;
  /** DHCP networks: leases given back by the driver (parked ones at DeleteNetwork, a refused first lease at CreateEndpoint) */
  readonly releases?: Pick<ParkedReleases, 'giveBackAll' | 'giveBackRefused'>;
}
