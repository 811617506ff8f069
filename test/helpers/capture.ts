// Packet captures for the multi-host tests: tcpdump on a cable inside a test netns, and the
// 802.1Q tags of what it saw. Nothing is captured in the root netns.
import { execa } from 'execa';
import { sleep } from './run.js';

/** tcpdump running on an interface; stop() or its own -c / time limit ends it. */
export interface Capture {
  /** The frames tcpdump printed (one line each), once it has exited. */
  readonly done: Promise<string[]>;
  /** Ends the capture (SIGTERM to our `timeout` process, which passes it on) and returns the frames. */
  stop(): Promise<string[]>;
}

export interface CaptureOpts {
  /** tcpdump -c (default 200). */
  count?: number;
  /** Upper bound on the capture (default 20 s). */
  seconds?: number;
  /** A pcap filter as separate words, e.g. ['icmp'] (default: every frame). */
  filter?: readonly string[];
}

/** `tcpdump -l -e -nn -i IFACE` inside `ns`; resolves once tcpdump listens. */
export async function startCapture(ns: string, iface: string, opts: CaptureOpts = {}): Promise<Capture> {
  const seconds = opts.seconds ?? 20;
  const proc = execa('ip', ['netns', 'exec', ns, 'timeout', String(seconds), 'tcpdump', '-l', '-e', '-nn', '-i', iface,
    '-c', String(opts.count ?? 200), ...(opts.filter ?? [])], { reject: false, stdin: 'ignore', timeout: (seconds + 5) * 1000 });
  const done = proc.then((r) => String(r.stdout ?? '').split('\n').filter((l) => l.trim() !== ''));
  let err = '';
  const listening = new Promise<void>((resolve) => {
    proc.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (err.includes('listening on')) resolve();
    });
    void done.then(() => resolve());
  });
  await listening;
  if (proc.exitCode !== null) throw new Error(`tcpdump on ${iface} in ${ns} exited: ${err}`);
  await sleep(200); // the socket is open; let the ring settle before traffic starts
  return {
    done,
    stop: async () => {
      proc.kill('SIGTERM');
      return done;
    },
  };
}

/** 802.1Q tags (outermost) of captured frames, and the frames that carry none. */
export function vlanTags(frames: readonly string[]): { tags: Set<number>; untagged: string[] } {
  const tags = new Set<number>();
  const untagged: string[] = [];
  for (const f of frames) {
    const m = /ethertype 802\.1Q \(0x8100\), length \d+: vlan (\d+),/.exec(f);
    if (m) tags.add(Number(m[1]));
    else untagged.push(f);
  }
  return { tags, untagged };
}
