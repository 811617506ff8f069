// The bytes of netlink messages ovsvlan sends and reads: attributes (struct
// nlattr) and the fixed headers that open each family's payload (struct
// ifinfomsg, struct tcmsg, struct genlmsghdr). The netlink message header
// (struct nlmsghdr) is the npm `netlink` package's (socket.ts).
// Byte order is the host's, as the kernel's; every platform ovsvlan ships a
// prebuilt binary for (x64, arm64) is little-endian, so LE is written.

/** nlattr.nla_type flag: the payload is itself a list of attributes. Strict kernel policies (genetlink) require it. */
const NLA_F_NESTED = 0x8000;
/** nla_type without NLA_F_NESTED and NLA_F_NET_BYTEORDER */
const NLA_TYPE_MASK = 0x3fff;
const NLA_HDRLEN = 4;

const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute: struct nlattr { u16 nla_len; u16 nla_type; } then the payload, padded to 4 bytes. */
export function attr(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(align4(NLA_HDRLEN + payload.length));
  out.writeUInt16LE(NLA_HDRLEN + payload.length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, NLA_HDRLEN);
  return out;
}

/** An attribute whose payload is the attributes `children` (NLA_F_NESTED set). */
export const nest = (type: number, ...children: Buffer[]): Buffer => attr(type | NLA_F_NESTED, Buffer.concat(children));
/** A NUL-terminated string attribute (NLA_STRING / NLA_NUL_STRING). */
export const strAttr = (type: number, s: string): Buffer => attr(type, Buffer.from(`${s}\0`));
export const u16Attr = (type: number, v: number): Buffer => attr(type, le(2, v));
export const u32Attr = (type: number, v: number): Buffer => attr(type, le(4, v));

function le(bytes: 2 | 4, v: number): Buffer {
  const b = Buffer.alloc(bytes);
  if (bytes === 2) b.writeUInt16LE(v);
  else b.writeUInt32LE(v >>> 0);
  return b;
}

/** The attributes of `buf` in order, as [type without flags, payload]; a type may repeat (lists). */
export function parseAttrs(buf: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  for (let off = 0; off + NLA_HDRLEN <= buf.length;) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    out.push([buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + NLA_HDRLEN, off + len)]);
    off += align4(len);
  }
  return out;
}

/** The attributes of `buf` by type (the last of a repeated type wins). */
export const attrMap = (buf: Buffer): Map<number, Buffer> => new Map(parseAttrs(buf));

/** A string attribute's text, without its NUL. */
export function attrString(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

// --- rtnetlink links: struct ifinfomsg (linux/rtnetlink.h)

export const IFINFOMSG_LEN = 16;

export interface IfInfo {
  /** ifi_index (0: the kernel picks one, or a request names the link by IFLA_IFNAME) */
  index: number;
  /** ifi_flags: IFF_* */
  flags: number;
  /** ifi_change: which IFF_* bits of `flags` to apply */
  change: number;
}

/** struct ifinfomsg { u8 ifi_family (AF_UNSPEC); u8 pad; u16 ifi_type; s32 ifi_index; u32 ifi_flags; u32 ifi_change; } */
export function ifinfomsg(i: Partial<IfInfo> = {}): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeInt32LE(i.index ?? 0, 4);
  b.writeUInt32LE((i.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((i.change ?? 0) >>> 0, 12);
  return b;
}

export const parseIfinfomsg = (b: Buffer): IfInfo => ({ index: b.readInt32LE(4), flags: b.readUInt32LE(8), change: b.readUInt32LE(12) });

// --- rtnetlink traffic control: struct tcmsg (linux/rtnetlink.h)

export const TCMSG_LEN = 20;

export interface TcInfo {
  ifindex: number;
  /** tcm_handle: the qdisc's major:0, or the filter's own handle */
  handle: number;
  /** tcm_parent: where it hangs (TC_H_CLSACT, or clsact's ingress) */
  parent: number;
  /** tcm_info: for a filter, pref << 16 | protocol (network byte order) */
  info: number;
}

/** struct tcmsg { u8 tcm_family (AF_UNSPEC); u8 pad1; u16 pad2; s32 tcm_ifindex; u32 tcm_handle; u32 tcm_parent; u32 tcm_info; } */
export function tcmsg(t: TcInfo): Buffer {
  const b = Buffer.alloc(TCMSG_LEN);
  b.writeInt32LE(t.ifindex, 4);
  b.writeUInt32LE(t.handle >>> 0, 8);
  b.writeUInt32LE(t.parent >>> 0, 12);
  b.writeUInt32LE(t.info >>> 0, 16);
  return b;
}

export const parseTcmsg = (b: Buffer): TcInfo => ({ ifindex: b.readInt32LE(4), handle: b.readUInt32LE(8), parent: b.readUInt32LE(12), info: b.readUInt32LE(16) });

// --- generic netlink: struct genlmsghdr (linux/genetlink.h)

export const GENLMSGHDR_LEN = 4;

/** struct genlmsghdr { u8 cmd; u8 version; u16 reserved; } */
export function genlmsghdr(cmd: number, version: number): Buffer {
  return Buffer.from([cmd, version, 0, 0]);
}
