// The DHCP client's files (src/dhcp/files.ts) without udhcpc: the daemon's
// start-up sweep removes the one-shot clients' report files a killed daemon
// left (first-*, release-*) and nothing else, and a missing directory is not
// made; report names never collide with an endpoint's; the renewal client's
// log is truncated when opened again and its last line is what an error
// quotes.
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pino } from 'pino';
import { UdhcpcClient } from '../../src/dhcp/client.js';
import { endpointFiles, lastLogLine, openClientLog, reportFiles, sweepReports } from '../../src/dhcp/files.js';

const EP = 'ab'.repeat(32);
const quiet = pino({ level: 'silent' });

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dhcp-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('sweep at start: report files of an interrupted call go, the endpoints\' files stay', async (t) => {
  const dir = await tempDir(t);
  const first = reportFiles(dir, 'first');
  const release = reportFiles(dir, 'release');
  const own = endpointFiles(dir, EP);
  for (const f of [first.lease, release.lease, release.deconfig, own.pid, own.lease, own.deconfig, own.log]) await writeFile(f, 'x');
  await writeFile(join(dir, 'first-notours.txt'), 'x');
  await new UdhcpcClient({ dir, logger: quiet }).sweep();
  t.same((await readdir(dir)).sort(), [own.deconfig, own.lease, own.log, own.pid, join(dir, 'first-notours.txt')].map((f) => basename(f)).sort());
  t.same(await sweepReports(dir), [], 'nothing left to sweep');
});

t.test('sweep with no directory: nothing made', async (t) => {
  const dir = join(await tempDir(t), 'dhcp');
  await new UdhcpcClient({ dir, logger: quiet }).sweep();
  t.notOk(existsSync(dir));
});

t.test('report files: fresh names, never an endpoint\'s', async (t) => {
  const dir = await tempDir(t);
  const a = reportFiles(dir, 'first');
  const b = reportFiles(dir, 'first');
  t.not(a.lease, b.lease);
  t.match(basename(a.lease), /^first-[0-9a-f]{12}\.lease\.json$/);
  t.throws(() => endpointFiles(dir, 'first-0123'), { name: 'DhcpError' }, 'no endpoint ID has a dash');
});

t.test('the client log: truncated at each open, its last line quoted', async (t) => {
  const dir = await tempDir(t);
  const { log } = endpointFiles(dir, EP);
  t.equal(await lastLogLine(log), '', 'no log: nothing to quote');
  let out = await openClientLog(log);
  await writeFile(log, 'udhcpc: started, v1.35.0\nudhcpc: bind: Address in use\n');
  await out.close();
  t.equal(await lastLogLine(log), 'udhcpc: bind: Address in use');
  out = await openClientLog(log);
  await out.close();
  t.equal(await lastLogLine(log), '', 'opened again: empty');
  await writeFile(log, `${'x'.repeat(10_000)}\nlast\n`);
  t.equal(await lastLogLine(log, 100), 'last', 'read from the end');
});
