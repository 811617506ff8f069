// Issue 9, defect 6: choosing a default pool used to check every candidate
// subnet against every pool held, in one synchronous loop; with many pools
// held, a Plugin.Activate sent meanwhile waited for it (1.6 s seen). Here the
// daemon holds 16,384 pools (/30s filling the default range 10.200.0.0/16), so
// a RequestPool without --subnet has a long search that ends in "no free /24".
// While it runs, Activate calls sent one after the other are answered: the
// search lets the event loop run. Asserted by order, never by duration.
// Issue 10: a RequestAddress in a pool of 65,536 leases saves one journal
// line holding that lease, and leaves the snapshot alone.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createSocketHost } from '../helpers/socket-host.js';
import { sleep } from '../helpers/run.js';

const HELD = 16_384;

/** A state file (version 3) holding `HELD` unbound /30 pools that cover 10.200.0.0/16. */
function crowdedState(): string {
  const pools: Record<string, object> = {};
  for (let i = 0; i < HELD; i++) {
    const pool = `10.200.${i >> 6}.${(i & 63) << 2}/30`;
    const id = `${pool}#${randomBytes(4).toString('hex')}`;
    pools[id] = { id, addressSpace: 'ovsvlan-local', v6: false, pool, subPool: undefined, networkId: undefined, auto: false,
      lastAllocated: undefined, createdAt: Date.now(), leases: {} };
  }
  return JSON.stringify({ version: 3, networks: {}, endpoints: {}, pools });
}

t.test('Plugin.Activate is answered while a default pool is searched among 16,384 pools', async (t) => {
  const h = await createSocketHost('srch', t);
  await h.stopDaemon();
  await writeFile(`${h.stateDir}/state.json`, crowdedState());
  await h.startDaemon();
  t.equal((await h.call('Plugin.Activate', '')).status, 200, 'the daemon serves (its first reconciliation is over)');

  let searching = true;
  const search = h.call('IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: '', SubPool: '', Options: {}, V6: false }, 120_000)
    .finally(() => { searching = false; });
  await sleep(20); // the daemon has begun the search
  let answered = 0;
  const statuses = new Set<number>();
  while (searching) {
    statuses.add((await h.call('Plugin.Activate', '')).status);
    if (searching) answered++;
  }
  t.same([...statuses], [200], 'every Activate answered 200');
  const r = await search;
  t.equal(r.status, 500, 'the range is used up');
  t.match(r.answer['Err'], /^no free \/24 left in the default range 10\.200\.0\.0\/16: give --subnet, or remove unused networks$/);
  t.ok(answered > 0, `${answered} Activate call(s) answered while the search ran`);
  t.equal(Object.keys((await h.readState()).pools).length, HELD, 'nothing was added');
});

t.test('RequestAddress in a pool of 65,536 leases: one journal line, holding that lease only', async (t) => {
  const h = await createSocketHost('lease', t);
  await h.stopDaemon();
  const id = `10.128.0.0/15#${randomBytes(4).toString('hex')}`;
  const leases: Record<string, object> = {};
  for (let i = 0; i < 65_536; i++) leases[`10.128.${i >> 8}.${i & 255}`] = { kind: 'pending', at: Date.now() };
  const pool = { id, addressSpace: 'ovsvlan-local', v6: false, pool: '10.128.0.0/15', networkId: undefined, auto: false,
    lastAllocated: '10.128.255.255', createdAt: Date.now(), leases };
  await writeFile(`${h.stateDir}/state.json`, JSON.stringify({ version: 3, networks: {}, endpoints: {}, pools: { [id]: pool } }));
  await h.startDaemon();
  t.equal((await h.call('Plugin.Activate', '')).status, 200, 'the daemon serves');
  const journal = `${h.stateDir}/state.journal`;
  const snapshot = await stat(`${h.stateDir}/state.json`);
  const before = await readFile(journal, 'utf8');

  const r = await h.call('IpamDriver.RequestAddress', { PoolID: id, Address: '', Options: {} });
  t.same(r, { status: 200, answer: { Address: '10.129.0.0/15', Data: {} } }, 'the next address after the last one handed out');
  const added = (await readFile(journal, 'utf8')).slice(before.length).split('\n').filter(Boolean);
  t.equal(added.length, 1, 'one journal line');
  t.match(added[0], /"10\.129\.0\.0"/, 'holding the new lease');
  t.notMatch(added[0], /"10\.128\.\d+\.\d+"/, 'and none of the 65,536 others');
  t.ok(Buffer.byteLength(added[0]!) < 1024, `${Buffer.byteLength(added[0]!)} bytes`);
  t.equal((await stat(`${h.stateDir}/state.json`)).mtimeMs, snapshot.mtimeMs, 'the snapshot is not rewritten');
  const saved = await h.readState();
  t.equal(Object.keys(saved.pools[id]!.leases).length, 65_537, 'the saved state (snapshot + journal) holds every lease');
});
