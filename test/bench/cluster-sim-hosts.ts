// One simulation process of the cluster scale bench and test (issue 11, must-show 7), started by
// test/helpers/cluster-sim.ts: one etcd connection, and for each simulated host the daemon's own
// liveness record (EtcdLiveness: epoch bumped, lease granted, `alive` and `info` put, keepalives),
// nothing else. Commands come as JSON lines on stdin, answers go as JSON lines on stdout
// (SimCommand / SimEvent); logs go to stderr. Optionally also watches the liveness keys (`alive/`)
// as every daemon's host view does, and counts what the watch delivers.
import { createInterface } from 'node:readline';
import { destination, pino } from 'pino';
import { openEtcdKv } from '../../src/cluster/etcd-kv.js';
import { EtcdLiveness } from '../../src/cluster/hosts.js';
import { Keys } from '../../src/cluster/keys.js';
import type { Kv, KvLease, KvWatch } from '../../src/cluster/kv.js';
import type { SimCommand, SimEvent, SimHost, SimProcessConfig } from '../helpers/cluster-sim.js';

const send = (e: SimEvent): void => {
  process.stdout.write(`${JSON.stringify(e)}\n`);
};

/** A simulated host: the daemon's liveness object, and the leases it was granted (so that it can leave by revoking them). */
interface Sim {
  readonly liveness: EtcdLiveness;
  readonly leases: KvLease[];
  left: boolean;
}

/** The shared connection as one host's liveness sees it: every call goes through, the leases it is granted are remembered. */
function leaseRecording(kv: Kv, leases: KvLease[]): Kv {
  return {
    get: (key) => kv.get(key),
    range: (prefix) => kv.range(prefix),
    txn: (compares, success, failure) => kv.txn(compares, success, failure),
    watch: (prefix, from, handler) => kv.watch(prefix, from, handler),
    grantLease: async (ttl) => {
      const lease = await kv.grantLease(ttl);
      leases.push(lease);
      return lease;
    },
    close: async () => undefined, // the process closes the shared connection
  };
}

/** Watches the liveness keys (`alive/`) from now on, exactly as a daemon's host view does, counting the events delivered; re-lists after a reset. */
async function countHostEvents(kv: Kv, keys: Keys, stats: { puts: number; deletes: number; responses: number }): Promise<() => Promise<void>> {
  let watch: KvWatch | undefined;
  let closed = false;
  const start = async (): Promise<void> => {
    const { revision } = await kv.range(keys.alives());
    watch = await kv.watch(keys.alives(), revision + 1, {
      onEvents: (events) => {
        stats.responses++;
        for (const e of events) e.type === 'put' ? stats.puts++ : stats.deletes++;
      },
      onReset: (reason) => {
        process.stderr.write(`simulation watch reset (${reason}): watching again\n`);
        if (!closed) void start();
      },
    });
  };
  await start();
  return async () => {
    closed = true;
    await watch?.close();
  };
}

/** As the daemon does (cluster.ts): start() again after a failure, waiting 1 s doubling to 10 s; resolves with the retries it took. */
async function startUntilDone(liveness: EtcdLiveness): Promise<number> {
  for (let retries = 0, wait = 1_000; ; retries++, wait = Math.min(wait * 2, 10_000)) {
    try {
      await liveness.start();
      return retries;
    } catch (err) {
      if (retries === 0) process.stderr.write(`simulated host not registered yet, retrying: ${String(err)}\n`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as SimProcessConfig;
  const log = pino({ level: 'warn' }, destination(2));
  const kv = await openEtcdKv({ endpoints: config.endpoints });
  const keys = new Keys(config.prefix);
  const fields = (h: SimHost) => () => ({ id: h.id, underlayIp: h.underlayIp, encapsulations: ['vxlan', 'gre'] as const, mtu: 1500,
    versions: { ovsvlan: 'simulated' } });
  const sims = new Map<string, Sim>(config.hosts.map((h) => {
    const leases: KvLease[] = [];
    return [h.id, { liveness: new EtcdLiveness(leaseRecording(kv, leases), keys, fields(h), log), leases, left: false }];
  }));
  // etcd answers (a fresh process's first call may miss the 2 s deadline on a busy machine): the connection is up before anything is timed
  for (let tries = 1; ; tries++) {
    try {
      await kv.range(keys.hosts());
      break;
    } catch (err) {
      if (tries >= 30) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
  const stats = { puts: 0, deletes: 0, responses: 0 };
  const stopWatch = config.watch ? await countHostEvents(kv, keys, stats) : async () => undefined;
  send({ event: 'connected' });

  /** stop() ends the keepalives (so a lost lease is not put back), then the leases are revoked: the `alive` key goes at once. */
  const leave = async (sim: Sim): Promise<void> => {
    sim.left = true;
    await sim.liveness.stop();
    await Promise.all(sim.leases.splice(0).map((l) => l.revoke()));
  };

  const find = (id: string): Sim => {
    const sim = sims.get(id);
    if (!sim) throw new Error(`no simulated host ${id} in this process`);
    return sim;
  };
  const handle = async (c: SimCommand): Promise<void> => {
    switch (c.cmd) {
      case 'register': {
        const chosen = c.ids === undefined ? [...sims.values()] : c.ids.map(find);
        const retries = (await Promise.all(chosen.map((s) => {
          s.left = false;
          return startUntilDone(s.liveness);
        }))).reduce((a, b) => a + b, 0);
        send({ event: 'registered', count: chosen.length, lastAt: Date.now(), retries });
        return;
      }
      case 'leave':
        await Promise.all(c.ids.map((id) => leave(find(id))));
        send({ event: 'left', count: c.ids.length, lastAt: Date.now() });
        return;
      case 'stats':
        send({ event: 'stats', watch: config.watch ? { ...stats } : undefined });
        return;
      case 'close':
        await Promise.all([...sims.values()].filter((s) => !s.left).map(leave));
        await stopWatch();
        await kv.close();
        send({ event: 'closed' });
        process.exit(0);
    }
  };
  // one command at a time, in order
  let queue = Promise.resolve();
  createInterface({ input: process.stdin }).on('line', (line) => {
    queue = queue.then(() => handle(JSON.parse(line) as SimCommand)).catch((err: unknown) => send({ event: 'error', message: String(err) }));
  });
}

main().catch((err: unknown) => {
  send({ event: 'error', message: `cannot start: ${String(err)}` });
  process.exit(1);
});
