// Traffic control through rtnetlink: a clsact qdisc and a classic-BPF filter
// at its ingress hook, what `tc qdisc replace dev D clsact` and `tc filter
// replace dev D ingress pref P handle H bpf da bytecode …` send, and the
// read-back of ingress filters (`tc filter show dev D ingress`).
import { NLM_F, request } from './socket.js';
import { attr, attrMap, attrString, nest, parseTcmsg, strAttr, TCMSG_LEN, tcmsg, u16Attr, u32Attr } from './wire.js';

// message types (linux/rtnetlink.h)
const RTM_NEWQDISC = 36;
const RTM_NEWTFILTER = 44;
const RTM_GETTFILTER = 46;
// linux/rtnetlink.h TCA_*: every qdisc's and filter's first attributes
const TCA_KIND = 1;
const TCA_OPTIONS = 2;
// linux/pkt_sched.h: clsact's handle and parent, and its ingress hook
const TC_H_CLSACT = 0xffff_fff1;
const CLSACT_HANDLE = 0xffff_0000; // TC_H_MAKE(TC_H_CLSACT, 0)
const CLSACT_INGRESS = 0xffff_fff2; // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
/** ETH_P_ALL (linux/if_ether.h) in network byte order, as tcm_info carries it: the filter sees every protocol */
const ETH_P_ALL_BE = 0x0300;
// linux/pkt_cls.h: cls_bpf's options
const TCA_BPF_OPS_LEN = 4;
const TCA_BPF_OPS = 5;
const TCA_BPF_FLAGS = 8;
/** the program's return value is the action (TC_ACT_*): no separate action needed */
const TCA_BPF_FLAG_ACT_DIRECT = 1;

/** struct sock_filter (linux/filter.h): one classic BPF instruction. */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** An ingress filter as the kernel reports it. */
export interface IngressFilter {
  kind: string | undefined;
  pref: number;
  handle: number;
  /** cls_bpf only: TCA_BPF_FLAG_ACT_DIRECT */
  directAction: boolean;
  /** cls_bpf only: its classic BPF program */
  ops: SockFilter[];
}

/** Gives link `ifindex` a clsact qdisc (kept when it has one). */
export async function replaceClsact(ifindex: number, dev: string): Promise<void> {
  await request('route', `add clsact qdisc to ${dev}`, RTM_NEWQDISC, NLM_F.CREATE | NLM_F.REPLACE,
    [tcmsg({ ifindex, handle: CLSACT_HANDLE, parent: TC_H_CLSACT, info: 0 }), strAttr(TCA_KIND, 'clsact')]);
}

/**
 * Puts a direct-action cls_bpf filter running `ops` for every protocol at
 * clsact's ingress hook of link `ifindex`, replacing the one of the same
 * pref and handle: no moment without a filter.
 */
export async function replaceIngressBpf(ifindex: number, dev: string, f: { pref: number; handle: number; ops: readonly SockFilter[] }): Promise<void> {
  const program = Buffer.alloc(8 * f.ops.length);
  for (const [i, op] of f.ops.entries()) {
    // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
    program.writeUInt16LE(op.code, 8 * i);
    program.writeUInt8(op.jt, 8 * i + 2);
    program.writeUInt8(op.jf, 8 * i + 3);
    program.writeUInt32LE(op.k >>> 0, 8 * i + 4);
  }
  const options = nest(TCA_OPTIONS, u16Attr(TCA_BPF_OPS_LEN, f.ops.length), attr(TCA_BPF_OPS, program), u32Attr(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT));
  await request('route', `add ingress bpf filter to ${dev}`, RTM_NEWTFILTER, NLM_F.CREATE | NLM_F.REPLACE,
    [tcmsg({ ifindex, handle: f.handle, parent: CLSACT_INGRESS, info: (f.pref << 16) | ETH_P_ALL_BE }), strAttr(TCA_KIND, 'bpf'), options]);
}

/** The filters at clsact's ingress hook of link `ifindex` (none when it has no clsact, or is gone). */
export async function ingressFilters(ifindex: number, dev: string): Promise<IngressFilter[]> {
  const answers = await request('route', `list ingress filters of ${dev}`, RTM_GETTFILTER, NLM_F.DUMP,
    [tcmsg({ ifindex, handle: 0, parent: CLSACT_INGRESS, info: 0 })]);
  // the kernel reports each filter's pref once on its own (handle 0, no options), then each filter under it
  return answers.map(parseFilter).filter((f) => f.handle !== 0);
}

/** An RTM_NEWTFILTER answer: struct tcmsg, then TCA_* attributes. */
function parseFilter(msg: Buffer): IngressFilter {
  const head = parseTcmsg(msg);
  const attrs = attrMap(msg.subarray(TCMSG_LEN));
  const options = attrMap(attrs.get(TCA_OPTIONS) ?? Buffer.alloc(0));
  const program = options.get(TCA_BPF_OPS) ?? Buffer.alloc(0);
  const ops: SockFilter[] = [];
  for (let off = 0; off + 8 <= program.length; off += 8) {
    ops.push({ code: program.readUInt16LE(off), jt: program.readUInt8(off + 2), jf: program.readUInt8(off + 3), k: program.readUInt32LE(off + 4) });
  }
  return {
    kind: attrString(attrs.get(TCA_KIND)),
    pref: head.info >>> 16,
    handle: head.handle,
    directAction: ((options.get(TCA_BPF_FLAGS)?.readUInt32LE(0) ?? 0) & TCA_BPF_FLAG_ACT_DIRECT) !== 0,
    ops,
  };
}
