// `npm run bench` (root): latency of the calls Docker makes for each container,
// and the daemon's memory, against a private OVS in a netns: no Docker, so
// what is measured is ovsvlan itself. Targets (2-core VM, userspace datapath):
// CreateEndpoint+Join+DeleteEndpoint p95 < 150 ms, RequestAddress p95 < 20 ms,
// RSS after 500 endpoints < 150 MB.
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { createNetns } from '../helpers/netns.js';
import { destroyOvs, startOvs } from '../helpers/ovs.js';
import { startOvsvlan } from '../helpers/plugin.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir } from '../helpers/run.js';

function call(socketPath: string, method: string, body: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request({ socketPath, path: `/${method}`, method: 'POST', headers: { 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let out = '';
      res.on('data', (c: Buffer) => (out += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error(`${method}: ${out}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const id = (): string => randomBytes(32).toString('hex');
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;
const row = (name: string, xs: number[], target: number): boolean => {
  const p95 = pct(xs, 0.95);
  console.log(`${name.padEnd(44)} n=${String(xs.length).padEnd(4)} p50=${pct(xs, 0.5).toFixed(1)} ms  p95=${p95.toFixed(1)} ms  target p95 < ${target} ms  ${p95 < target ? 'ok' : 'MISSED'}`);
  return p95 < target;
};

async function main(): Promise<number> {
  await ensureRunDir();
  const ns = await createNetns(`${RUN_PREFIX}-bench`);
  const ovs = await startOvs('bench', ns.name);
  const sock = `${RUN_DIR}/bench.sock`;
  const daemon = await startOvsvlan({ netns: ns.name, socket: sock, ovsdb: ovs.endpoint, stateDir: `${RUN_DIR}/bench-state`,
    bridge: `${RUN_PREFIX}b`, datapath: 'netdev', logFile: `${RUN_DIR}/bench.log`, env: { OVSVLAN_LOG_LEVEL: 'warn', OVSVLAN_DOCKER: '' } });
  try {
    const net = id();
    const pool = await call(sock, 'IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: '10.77.0.0/16', SubPool: '', Options: {}, V6: false });
    await call(sock, 'NetworkDriver.CreateNetwork', { NetworkID: net, Options: { 'com.docker.network.generic': { vlan: '77' } },
      IPv4Data: [{ AddressSpace: 'x', Pool: '10.77.0.0/16', Gateway: '10.77.0.1/16' }], IPv6Data: [] });
    const addr: number[] = [];
    const addresses: string[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      const r = await call(sock, 'IpamDriver.RequestAddress', { PoolID: pool['PoolID'], Address: '', Options: null });
      addr.push(performance.now() - t0);
      addresses.push(String(r['Address']));
    }
    const ep: number[] = [];
    for (let i = 0; i < 100; i++) {
      const e = id();
      const t0 = performance.now();
      await call(sock, 'NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: e, Interface: { Address: addresses[i], AddressIPv6: '', MacAddress: '' }, Options: {} });
      await call(sock, 'NetworkDriver.Join', { NetworkID: net, EndpointID: e, SandboxKey: '/x', Options: {} });
      await call(sock, 'NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: e });
      ep.push(performance.now() - t0);
    }
    const status = await readFile(`/proc/${daemon.pid}/status`, 'utf8');
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    console.log(`ovsvlan bench (${new Date().toISOString()}, userspace datapath, private OVS)`);
    const ok = [row('IpamDriver.RequestAddress (500 in a /16)', addr, 20), row('CreateEndpoint + Join + DeleteEndpoint', ep, 150)];
    console.log(`${'daemon RSS after the runs'.padEnd(44)} ${rssMb.toFixed(1)} MB  target < 150 MB  ${rssMb < 150 ? 'ok' : 'MISSED'}`);
    return ok.every(Boolean) && rssMb < 150 ? 0 : 1;
  } finally {
    await daemon.stop();
    await destroyOvs(ovs);
    await ns.remove();
    await rm(`${RUN_DIR}/bench-state`, { recursive: true, force: true });
    await rm(`${RUN_DIR}/bench.log`, { force: true });
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
