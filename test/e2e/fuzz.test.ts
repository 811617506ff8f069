// Issue 9, "What to build", last point: a fuzz test. The real daemon on a
// private OVS in a netns, driven over its socket as dockerd drives it (POST,
// no Content-Type), with thousands of requests: valid calls in Docker's order
// on several lanes at once, interleaved with valid calls with one field broken
// (removed, wrong type, empty, huge up to 3 MB, unicode, control characters,
// shell metacharacters, paths, a CIDR where an address goes, IDs sharing a
// prefix with live ones, another network's ID), random JSON, truncated JSON,
// bodies that are no object, unknown paths, and bursts sent at once. What must hold:
//  - the daemon stays up, and answers every request within a second: 200 with
//    a JSON object, or 500 with {"Err": a short string}; 404 only for a path
//    (or method) that is no call; every valid call 200;
//  - every few hundred requests, the state file holds exactly what was answered
//    200 for (a refused call made and removed nothing), and OVS and the links
//    agree with it (fuzz-check.ts);
//  - once everything is removed through the API, OVS, the kernel and the state
//    hold nothing at all; no log line is longer than 10 kB, and the log holds no
//    long run of what was sent.
// Counts by call and status, and the latencies, are printed. Replay a run with
// OVSVLAN_FUZZ_SEED=<seed> (printed first); OVSVLAN_FUZZ_REQUESTS sets the count;
// OVSVLAN_TEST_KEEP_LOGS=<dir> keeps the daemon's log and a trace of every request and answer.
import t from 'tap';
import { request } from 'node:http';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { allowedStatus, Fuzzer, type Req } from '../helpers/fuzz.js';
import { drift, leftovers, viewHost } from '../helpers/fuzz-check.js';
import { MARKS, type Json } from '../helpers/fuzz-values.js';
import { createNetns } from '../helpers/netns.js';
import { destroyOvs, startOvs } from '../helpers/ovs.js';
import { startOvsvlan } from '../helpers/plugin.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, pidAlive, sleep } from '../helpers/run.js';

const SEED = Number(process.env.OVSVLAN_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const REQUESTS = Number(process.env.OVSVLAN_FUZZ_REQUESTS ?? 6000);
/** The issue's bound on every answer. */
const BOUND_MS = 1000;
const MAX_ERR = 400;
const MAX_LOG_LINE = 10_000;
const CHECK_EVERY = 400;

interface Answer {
  status: number;
  json: Json | undefined;
  ms: number;
  /** the connection failed: no answer at all */
  error?: string;
}

/** One request as dockerd sends it: POST, Content-Length, no Content-Type (unless the request is about one). */
function send(socketPath: string, req: Req): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const headers: Record<string, string> = req.contentType ? { 'Content-Type': req.contentType } : {};
    const r = request({ socketPath, path: req.path, method: req.method, headers, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: Json | undefined;
        try {
          json = JSON.parse(text) as Json;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json, ms: performance.now() - t0 });
      });
    });
    r.on('error', (err) => resolve({ status: 0, json: undefined, ms: performance.now() - t0, error: err.message }));
    r.on('timeout', () => r.destroy(new Error('no answer within 30 s')));
    r.end(req.body);
  });
}

/** What is wrong with an answer, or undefined. */
function wrongAnswer(req: Req, a: Answer): string | undefined {
  if (a.error) return `no answer: ${a.error}`;
  const err = typeof a.json === 'object' && a.json !== null && !Array.isArray(a.json) ? a.json['Err'] : undefined;
  const shown = `${a.status} ${typeof err === 'string' ? err.slice(0, 200) : JSON.stringify(a.json)?.slice(0, 200)}`;
  if (!allowedStatus(req).includes(a.status)) return `answered ${shown}`;
  if (a.status === 200) return typeof a.json === 'object' && a.json !== null && !Array.isArray(a.json) ? undefined : `200 without a JSON object: ${shown}`;
  if (typeof err !== 'string' || err === '') return `${a.status} without {"Err": string}: ${shown}`;
  if (err.length > MAX_ERR) return `an Err of ${err.length} characters: ${err.slice(0, 120)}…`;
  return undefined;
}

/** At most `n` examples per kind of problem, and how many there were. */
class Problems {
  readonly #seen = new Map<string, { count: number; examples: string[] }>();
  add(kind: string, example: string): void {
    const p = this.#seen.get(kind) ?? { count: 0, examples: [] };
    p.count++;
    if (p.examples.length < 10) p.examples.push(example);
    this.#seen.set(kind, p);
  }
  report(kind: string): string[] {
    const p = this.#seen.get(kind);
    return p ? [`${p.count} times`, ...p.examples] : [];
  }
}

t.test(`fuzz: ${REQUESTS} requests against the real daemon, seed ${SEED}`, async (t) => {
  t.comment(`seed ${SEED} (replay with OVSVLAN_FUZZ_SEED=${SEED})`);
  await ensureRunDir();
  const stateDir = `${RUN_DIR}/state-fz`;
  const logFile = `${RUN_DIR}/ovsvlan-fz.log`;
  const socket = `${RUN_DIR}/fz.sock`;
  const ns = await createNetns(`${RUN_PREFIX}-fz`);
  let ovs: Awaited<ReturnType<typeof startOvs>> | undefined;
  let daemon: Awaited<ReturnType<typeof startOvsvlan>> | undefined;
  const trace: string[] = [];
  t.teardown(async () => {
    if (!t.passing()) console.error(`--- ovsvlan-fz log tail\n${await daemon?.logTail(40)}`);
    await daemon?.stop();
    const keep = process.env.OVSVLAN_TEST_KEEP_LOGS;
    if (keep) {
      await mkdir(keep, { recursive: true });
      await copyFile(logFile, `${keep}/${RUN_PREFIX}-fuzz-${SEED}.log`).catch(() => undefined);
      await writeFile(`${keep}/${RUN_PREFIX}-fuzz-${SEED}.trace`, `${trace.join('\n')}\n`);
    }
    if (ovs) await destroyOvs(ovs);
    await ns.remove();
    await rm(stateDir, { recursive: true, force: true });
    await rm(logFile, { force: true });
    await rm(socket, { force: true });
  });
  ovs = await startOvs('fz', ns.name);
  // no Docker (OVSVLAN_DOCKER empty), and a grace no run reaches: reconciliation removes nothing the calls made
  daemon = await startOvsvlan({ netns: ns.name, socket, ovsdb: ovs.endpoint, stateDir, bridge: `${RUN_PREFIX}fz0`, datapath: 'netdev', logFile,
    env: { OVSVLAN_DOCKER: '', OVSVLAN_LEASE_GRACE: '999999' } });
  const d = daemon;
  const up = (): boolean => d.exitStatus() === undefined && pidAlive(d.pid);

  const fuzzer = new Fuzzer(SEED);
  const problems = new Problems();
  const counts = new Map<string, number>();
  const kinds = new Map<string, number>();
  const latencies: number[] = [];
  let slowest = { ms: 0, label: '' };
  let sent = 0;
  let rounds = 0;
  let bursts = 0;
  let checks = 0;
  let refusals = 0;
  const record = (req: Req, a: Answer): void => {
    sent++;
    const call = req.kind === 'unknown-path' ? 'unknown path' : req.method === 'GET' ? `GET ${req.path.slice(1)}` : req.path.slice(1);
    counts.set(`${call} ${a.status || 'no answer'}`, (counts.get(`${call} ${a.status || 'no answer'}`) ?? 0) + 1);
    kinds.set(req.kind, (kinds.get(req.kind) ?? 0) + 1);
    if (req.mustRefuse) refusals++;
    latencies.push(a.ms);
    if (a.ms > slowest.ms) slowest = { ms: a.ms, label: req.label };
    const at = `#${sent} (round ${rounds}) ${req.label}`;
    trace.push(`${at} ${req.body.length > 300 ? `${req.body.slice(0, 300)}… (${req.body.length})` : req.body} → ${a.status} in ${Math.round(a.ms)} ms ${JSON.stringify(a.json)?.slice(0, 300)}`);
    const wrong = wrongAnswer(req, a);
    if (wrong) problems.add(req.kind === 'valid' ? 'valid' : 'answer', `${at}: ${wrong}`);
    if (a.ms > BOUND_MS) problems.add('slow', `${at}: ${Math.round(a.ms)} ms`);
    fuzzer.observe(req, { status: a.status, json: a.json });
  };
  const check = async (): Promise<void> => {
    checks++;
    const first = drift(fuzzer.world, await viewHost(ovs!, ns.name, stateDir));
    if (first.length === 0) return;
    // a DeleteEndpoint answers before its port and veth are gone (they go in the background): only lasting drift counts
    await sleep(1_000);
    const again = new Set(drift(fuzzer.world, await viewHost(ovs!, ns.name, stateDir)));
    for (const line of first.filter((l) => again.has(l))) problems.add('drift', `after #${sent}: ${line}`);
  };

  // as Docker does first; not counted: it waits for the daemon's first reconciliation
  const activate = await send(socket, { path: '/Plugin.Activate', method: 'POST', body: '', json: undefined, contentType: undefined, kind: 'valid',
    label: 'Plugin.Activate', lane: undefined, mustRefuse: false });
  t.equal(activate.status, 200, 'Plugin.Activate answered');
  const t0 = performance.now();
  while (sent < REQUESTS && up()) {
    const reqs = fuzzer.round();
    rounds++;
    if (reqs.length > 1) bursts++;
    const answers = await Promise.all(reqs.map((r) => send(socket, r)));
    reqs.forEach((r, i) => record(r, answers[i]!));
    if (Math.floor(sent / CHECK_EVERY) !== Math.floor((sent - reqs.length) / CHECK_EVERY)) await check();
  }
  await check();
  const fuzzSeconds = (performance.now() - t0) / 1000;
  for (let req = fuzzer.finishing(); req && up(); req = fuzzer.finishing()) record(req, await send(socket, req));
  const pct = (p: number): number => [...latencies].sort((a, b) => a - b)[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;

  t.comment(`${sent} requests in ${rounds} rounds (${bursts} bursts) and ${fuzzSeconds.toFixed(1)} s, then removal; ${checks} consistency checks`);
  t.comment(`latency: p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms, max ${slowest.ms.toFixed(1)} ms (${slowest.label})`);
  t.comment(`${refusals} hostile requests had to be refused whatever the state (a field of the wrong type or form, another network's ID, a body that is no JSON object)`);
  t.comment(`by kind: ${[...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  t.comment(`by call and status:\n${[...counts].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `  ${k.padEnd(54)} ${n}`).join('\n')}`);

  t.ok(up(), `the daemon stayed up (${d.exitStatus() ? JSON.stringify(d.exitStatus()) : `PID ${d.pid}`})`);
  t.ok(sent >= REQUESTS, `${sent} requests sent`);
  t.same(problems.report('answer'), [], 'every request answered 200 with an object, or 500 with a short {"Err"} (404 only for paths that are no call)');
  t.same(problems.report('valid'), [], 'every valid call answered 200');
  t.same(fuzzer.problems.slice(0, 10), [], 'the valid calls\' answers hold what Docker needs and nothing it gave');
  t.same(problems.report('slow'), [], `every answer within ${BOUND_MS} ms (max ${slowest.ms.toFixed(1)} ms)`);
  t.same(problems.report('drift'), [], 'the state file held what was answered for, and OVS and the links agreed with it, at every check');
  t.same(leftovers(await viewHost(ovs, ns.name, stateDir)), [], 'after removal through the API: no record, no bridge, no port, no link left');

  const log = await readFile(logFile, 'utf8');
  const lines = log.split('\n');
  const longest = Math.max(...lines.map((l) => l.length));
  t.comment(`log: ${lines.length} lines, ${(log.length / 1024).toFixed(0)} kB (${(log.length / sent).toFixed(0)} bytes a request), longest ${longest}`);
  t.same(lines.filter((l) => l.length > MAX_LOG_LINE).map((l) => l.slice(0, 160)), [], `no log line over ${MAX_LOG_LINE} characters`);
  for (const m of MARKS) t.notOk(log.includes(m.repeat(65)), `the log holds no run of ${m} longer than 64 (what was sent is never logged whole)`);
});
