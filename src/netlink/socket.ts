// The daemon's netlink sockets: one rtnetlink and one generic netlink socket,
// each opened on first use in the network namespace of the process, and kept.
// The npm `netlink` package (a prebuilt N-API binary: no compiler, no spawn)
// numbers the requests and matches each answer to its request, so callers may
// have several in flight; the kernel handles one socket's messages in order.
// A dump (an answer in many parts) runs alone on its socket: the kernel runs
// one dump per socket at a time, and the package gathers the parts of one
// multipart answer at a time (another answer arriving between two parts would
// cut it short). Other requests are bounded in number: their answers wait in
// the socket's receive buffer, and an overrun there (about 60 link lookups at
// once with the default 208 KiB) aborts the process inside the package's
// native code rather than failing the request.
// Every failure is a LinkError that names the operation and the kernel's errno.
import { getSystemErrorMap } from 'node:util';
// the package's parts, not its index: the index also loads the nl80211, WireGuard and rtnetlink
// codecs (about 1.5 MB of generated JavaScript, +7.7 MB RSS), which nothing here uses
import { MessageType, Protocol } from 'netlink/dist/constants.js';
import { createNetlink, type NetlinkSocket } from 'netlink/dist/netlink.js';
import { LinkError } from '../errors.js';

/** What one request may take before it is abandoned (the kernel answers in well under a millisecond). */
const TIMEOUT_MS = 10_000;

/** nlmsghdr.nlmsg_flags of requests (linux/netlink.h): NLM_F_REQUEST and NLM_F_ACK are always added. */
export const NLM_F = {
  /** NLM_F_ROOT | NLM_F_MATCH: every object of the kind (a dump) */
  DUMP: 0x300,
  /** NLM_F_REPLACE: replace an existing object */
  REPLACE: 0x100,
  /** NLM_F_EXCL: fail with EEXIST when it exists */
  EXCL: 0x200,
  /** NLM_F_CREATE: create it when it does not exist */
  CREATE: 0x400,
} as const;

/** A netlink request the kernel refused: `errno` is the kernel's (positive), `errnoName` its symbol (ENODEV). */
export class NetlinkError extends LinkError {
  readonly errno: number;
  readonly errnoName: string;
  constructor(operation: string, errno: number) {
    const [name, text] = getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, 'unknown error'];
    super(['netlink', operation], `${text} (${name})`);
    this.errno = errno;
    this.errnoName = name;
  }
}

export type Family = 'route' | 'generic';

const sockets = new Map<Family, NetlinkSocket>();

/** What runs on one family's socket: plain requests side by side, or one dump alone. */
interface Lane {
  inFlight: Set<Promise<unknown>>;
  dump: Promise<unknown> | undefined;
}

const lanes = new Map<Family, Lane>();

/** Requests answered one by one that may be in flight on a socket together (their answers: a few KiB each). */
const MAX_IN_FLIGHT = 16;

/**
 * Runs `send` when the socket allows: a dump waits for what is in flight,
 * everything waits for a dump, and a request waits while MAX_IN_FLIGHT are.
 */
async function sequenced<T>(family: Family, dump: boolean, send: () => Promise<T>): Promise<T> {
  let lane = lanes.get(family);
  if (!lane) lanes.set(family, (lane = { inFlight: new Set(), dump: undefined }));
  while (lane.dump || (!dump && lane.inFlight.size >= MAX_IN_FLIGHT)) {
    await (lane.dump ?? Promise.race(lane.inFlight)).catch(() => undefined);
  }
  const running = dump
    ? (async () => {
      while (lane.inFlight.size > 0) await Promise.allSettled([...lane.inFlight]);
      return send();
    })()
    : send();
  if (dump) lane.dump = running;
  else lane.inFlight.add(running);
  try {
    return await running;
  } finally {
    if (lane.dump === running) lane.dump = undefined;
    lane.inFlight.delete(running);
  }
}

function socketFor(family: Family): NetlinkSocket {
  let s = sockets.get(family);
  if (!s) {
    s = createNetlink(family === 'route' ? Protocol.ROUTE : Protocol.GENERIC);
    const opened = s;
    // a socket error (ENOBUFS on an overrun) leaves its requests to time out; the next request opens a new socket
    opened.on('error', () => {
      if (sockets.get(family) === opened) sockets.delete(family);
      opened.close();
    });
    sockets.set(family, s);
  }
  return s;
}

/**
 * Sends one request (`type` is the nlmsghdr type: RTM_*, or a generic family's
 * id) and returns the payloads of the kernel's answers: none for a plain
 * acknowledgement, one for a lookup, many for a dump. `operation` names what
 * it does in the LinkError a refusal or a failure becomes.
 */
export async function request(family: Family, operation: string, type: number, flags: number, payload: Buffer[]): Promise<Buffer[]> {
  let answers;
  try {
    const send = () => socketFor(family).request(type, payload, { flags, checkError: false, timeout: TIMEOUT_MS });
    [answers] = await sequenced(family, (flags & NLM_F.DUMP) === NLM_F.DUMP, send);
  } catch (err) {
    throw new LinkError(['netlink', operation], err instanceof Error ? err.message : String(err), err);
  }
  const out: Buffer[] = [];
  for (const m of answers) {
    if (m.type !== MessageType.ERROR) {
      out.push(m.data);
      continue;
    }
    // struct nlmsgerr { s32 error; struct nlmsghdr msg; }: error 0 is the acknowledgement
    const errno = -m.data.readInt32LE(0);
    if (errno !== 0) throw new NetlinkError(operation, errno);
  }
  return out;
}

/** Whether `err` is the kernel's refusal with one of `names` (EEXIST, ENODEV…). */
export function isErrno(err: unknown, ...names: string[]): err is NetlinkError {
  return err instanceof NetlinkError && names.includes(err.errnoName);
}

/** Closes the sockets (tests and benchmarks that end their process; the daemon keeps them). */
export function closeNetlink(): void {
  for (const s of sockets.values()) s.close();
  sockets.clear();
}
