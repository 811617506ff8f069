// Turning a link's offloads off through ethtool's generic netlink family
// (linux/ethtool_netlink.h, kernel 5.6 and later): what `ethtool -K` does,
// without the process.
import { isErrno, request } from './socket.js';
import { attrMap, genlmsghdr, GENLMSGHDR_LEN, nest, strAttr, u32Attr } from './wire.js';

// generic netlink's controller (linux/genetlink.h): resolves a family's name to its id
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_VERSION = 1;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;

// the ethtool family
const ETHTOOL_GENL_VERSION = 1;
const ETHTOOL_MSG_FEATURES_SET = 12;
const ETHTOOL_A_FEATURES_HEADER = 1;
const ETHTOOL_A_FEATURES_WANTED = 3;
// struct of ETHTOOL_A_*_HEADER
const ETHTOOL_A_HEADER_DEV_NAME = 2;
const ETHTOOL_A_HEADER_FLAGS = 3;
/** answer with an acknowledgement only, not the resulting feature sets */
const ETHTOOL_FLAG_OMIT_REPLY = 2;
// a bitset in its verbose form: a list of bits by name; without ETHTOOL_A_BITSET_NOMASK
// the listed bits are the ones changed, each to on when it carries ETHTOOL_A_BITSET_BIT_VALUE
const ETHTOOL_A_BITSET_BITS = 3;
const ETHTOOL_A_BITSET_BITS_BIT = 1;
const ETHTOOL_A_BITSET_BIT_NAME = 2;

/**
 * `ethtool -K DEV tx off`: every transmit checksum feature (NETIF_F_CSUM_MASK,
 * by their names in the kernel's netdev_features_strings). A device lacks some
 * of them as changeable features; the kernel leaves those as they are. It then
 * drops what needs a checksum offload (TSO and the like) by itself.
 */
export const TX_CHECKSUM_FEATURES = ['tx-checksum-ipv4', 'tx-checksum-ip-generic', 'tx-checksum-ipv6', 'tx-checksum-fcoe-crc', 'tx-checksum-sctp'] as const;

let familyId: Promise<number | undefined> | undefined;

/** The ethtool family's id, asked once; undefined on a kernel without it. */
function ethtoolFamily(): Promise<number | undefined> {
  familyId ??= (async () => {
    try {
      const [answer] = await request('generic', 'resolve genetlink family ethtool', GENL_ID_CTRL, 0,
        [genlmsghdr(CTRL_CMD_GETFAMILY, CTRL_VERSION), strAttr(CTRL_ATTR_FAMILY_NAME, 'ethtool')]);
      const id = answer ? attrMap(answer.subarray(GENLMSGHDR_LEN)).get(CTRL_ATTR_FAMILY_ID)?.readUInt16LE(0) : undefined;
      return id;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      familyId = undefined; // a failure to ask is asked again next time
      throw err;
    }
  })();
  return familyId;
}

/**
 * Turns the features `names` off on link `dev`. Returns false, changing
 * nothing, when the kernel has no ethtool netlink family (before 5.6, or built
 * without it): the caller decides what to do then.
 */
export async function featuresOff(dev: string, names: readonly string[]): Promise<boolean> {
  const family = await ethtoolFamily();
  if (family === undefined) return false;
  const bits = names.map((n) => nest(ETHTOOL_A_BITSET_BITS_BIT, strAttr(ETHTOOL_A_BITSET_BIT_NAME, n)));
  await request('generic', `ethtool features off on ${dev}`, family, 0, [
    genlmsghdr(ETHTOOL_MSG_FEATURES_SET, ETHTOOL_GENL_VERSION),
    nest(ETHTOOL_A_FEATURES_HEADER, strAttr(ETHTOOL_A_HEADER_DEV_NAME, dev), u32Attr(ETHTOOL_A_HEADER_FLAGS, ETHTOOL_FLAG_OMIT_REPLY)),
    nest(ETHTOOL_A_FEATURES_WANTED, nest(ETHTOOL_A_BITSET_BITS, ...bits)),
  ]);
  return true;
}
