// The fuzz test's generator, seeded (OVSVLAN_FUZZ_SEED replays the same
// requests, given the same answers). Requests are data (path, body, why),
// made in rounds: mostly one request, now and then a burst sent at once.
// Valid calls come from lanes, each running Docker's operations one call at
// a time in Docker's order (fuzz-docker.ts), several lanes at once; between
// them, hostile requests: a valid call on live objects with one field broken
// (fuzz-values.ts), random JSON, truncated JSON, bodies that are no object,
// paths that are no call, GETs. What a broken call that was still accepted
// made joins the model (fuzz-world.ts), so that the end can remove it all.
import { prng } from './faults.js';
import { createNetwork, remove, removeAll, removeNetwork, removeStrays, run, type Answer, type Op, type Step } from './fuzz-docker.js';
import { mutate, notAnObject, randomJson, truncated, unknownPath, type Json, type JsonObject, type Mutated } from './fuzz-values.js';
import { World } from './fuzz-world.js';

/** Every call ovsvlan answers (src/protocol/routes.ts). */
export const CALLS = [
  'Plugin.Activate', 'NetworkDriver.GetCapabilities', 'NetworkDriver.GwAllocCheck', 'NetworkDriver.CreateNetwork', 'NetworkDriver.DeleteNetwork',
  'NetworkDriver.CreateEndpoint', 'NetworkDriver.DeleteEndpoint', 'NetworkDriver.EndpointOperInfo', 'NetworkDriver.Join', 'NetworkDriver.Leave',
  'NetworkDriver.ProgramExternalConnectivity', 'NetworkDriver.RevokeExternalConnectivity', 'NetworkDriver.DiscoverNew', 'NetworkDriver.DiscoverDelete',
  'NetworkDriver.AllocateNetwork', 'NetworkDriver.FreeNetwork', 'IpamDriver.GetCapabilities', 'IpamDriver.GetDefaultAddressSpaces',
  'IpamDriver.RequestPool', 'IpamDriver.ReleasePool', 'IpamDriver.RequestAddress', 'IpamDriver.ReleaseAddress',
] as const;

export interface Req {
  path: string;
  method: 'POST' | 'GET';
  body: string;
  /** what the body was made from, when it is JSON */
  json: Json | undefined;
  /** Docker sends none */
  contentType: string | undefined;
  /** `valid`, or how the request is broken */
  kind: string;
  label: string;
  /** the lane of a valid call */
  lane: number | undefined;
  /** a hostile request the daemon must refuse (500), whatever the state */
  mustRefuse: boolean;
}

/** Statuses a request may get: 404 only for a path (or method) that is no call. */
export const allowedStatus = (req: Req): readonly number[] =>
  (req.kind === 'unknown-path' || req.kind === 'get' ? [404] : req.kind === 'valid' ? [200] : req.mustRefuse ? [500] : [200, 500]);

/** Calls that read nothing of the body (Docker sends none): whether a body that is no JSON object is refused is theirs to say. */
const NO_BODY = new Set(['Plugin.Activate', 'NetworkDriver.GetCapabilities', 'IpamDriver.GetCapabilities', 'IpamDriver.GetDefaultAddressSpaces',
  'NetworkDriver.DiscoverNew', 'NetworkDriver.DiscoverDelete']);

const P_VALID = 0.2;
const P_BURST = 0.1;
const CONTENT_TYPES = ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.docker.plugins.v1.2+json'];
type OpKind = 'create' | 'run' | 'remove' | 'remove-network' | 'strays' | 'cleanup';

interface Lane {
  op: Op | undefined;
  kind: OpKind | undefined;
  /** the call the lane sends next (made once the previous answer was told) */
  next: Step | undefined;
}

export class Fuzzer {
  readonly world: World;
  /** what valid answers held that they should not */
  readonly problems: string[] = [];
  readonly #rng: ReturnType<typeof prng>;
  readonly #lanes: Lane[];
  #cleanup = false;

  constructor(seed: number, lanes = 4) {
    this.#rng = prng(seed);
    this.world = new World(this.#rng);
    this.#lanes = Array.from({ length: lanes }, () => ({ op: undefined, kind: undefined, next: undefined }));
  }

  /** The next round's requests: one, or a burst to send at once (at most one call per lane). */
  round(): Req[] {
    const r = this.#rng;
    const size = r.next() < P_BURST ? 4 + r.int(13) : 1;
    const used = new Set<number>();
    const reqs: Array<Req | undefined> = [];
    for (let i = 0; i < size; i++) {
      const free = this.#lanes.map((_, n) => n).filter((n) => !used.has(n));
      const lane = free.length > 0 && r.next() < P_VALID ? r.pick(free) : undefined;
      const step = lane === undefined ? undefined : this.#step(lane);
      if (lane !== undefined && step) used.add(lane);
      reqs.push(lane !== undefined && step ? validReq(step, lane) : undefined);
    }
    // hostile requests after the valid calls: these mark what they are about to remove, which no hostile request may then count on
    return reqs.map((req) => req ?? this.#hostile());
  }

  /** The end of a run: what the lanes still have to send, then the removal of everything the model holds; undefined when done. */
  finishing(): Req | undefined {
    for (const [n, lane] of this.#lanes.entries()) if (lane.next) return this.#take(n, lane.next);
    if (this.#cleanup) return undefined;
    this.#cleanup = true;
    const lane = this.#lanes[0]!;
    this.#start(lane, 'cleanup', removeAll(this.world));
    return lane.next && this.#take(0, lane.next);
  }

  /** Tells the answer of a request: a lane goes on with its operation; what an accepted broken call made is learnt. */
  observe(req: Req, answer: Answer): void {
    const lane = req.lane === undefined ? undefined : this.#lanes[req.lane];
    if (lane?.op) this.#advance(lane, lane.op.next(answer));
    else if (answer.status === 200) this.world.learn(req.path.slice(1), req.json, answer.json);
  }

  #take(n: number, step: Step): Req {
    this.#lanes[n]!.next = undefined;
    return validReq(step, n);
  }

  #step(n: number): Step | undefined {
    const lane = this.#lanes[n]!;
    for (let tries = 0; !lane.next && tries < 3; tries++) {
      const [kind, op] = this.#choose();
      this.#start(lane, kind, op);
    }
    const step = lane.next;
    lane.next = undefined;
    return step;
  }

  #start(lane: Lane, kind: OpKind, op: Op): void {
    lane.op = op;
    lane.kind = kind;
    this.#advance(lane, op.next());
  }

  #advance(lane: Lane, r: IteratorResult<Step, void>): void {
    if (r.done) {
      lane.op = undefined;
      lane.kind = undefined;
      lane.next = undefined;
    } else {
      lane.next = r.value;
    }
  }

  /** What Docker does next: make networks until there are a few, then mostly run and remove containers. */
  #choose(): [OpKind, Op] {
    const w = this.world;
    const r = this.#rng;
    const expect = (ok: boolean, what: string): void => {
      if (!ok) this.problems.push(what);
    };
    const nets = [...w.networks.values()].filter((n) => n.origin === 'valid' && !n.dying);
    const creating = this.#lanes.filter((l) => l.kind === 'create').length;
    const eps = [...w.endpoints.values()];
    const room = nets.filter((n) => eps.filter((e) => e.networkId === n.id).length < 8);
    const idle = eps.filter((e) => e.origin === 'valid' && !e.busy && !w.networks.get(e.networkId)?.dying);
    const removable = nets.filter((n) => n.users === 0 && !eps.some((e) => e.networkId === n.id && e.busy));
    const strays = eps.some((e) => e.origin === 'stray') || [...w.networks.values(), ...w.pools.values()].some((x) => x.origin === 'stray')
      || [...w.pools.values()].some((p) => [...p.leases.values()].includes('stray'));
    const weights: Array<[OpKind, number]> = [
      ['create', nets.length + creating < 2 ? 1000 : nets.length + creating < 7 ? 8 : 0],
      ['run', room.length > 0 ? 45 : 0],
      ['remove', idle.length > 0 ? 30 : 0],
      ['remove-network', nets.length > 3 && removable.length > 0 ? 7 : 0],
      ['strays', strays ? 10 : 0],
    ];
    let roll = r.next() * weights.reduce((s, [, x]) => s + x, 0);
    const kind = weights.find(([, x]) => (roll -= x) < 0)?.[0] ?? 'create';
    switch (kind) {
      case 'run': return [kind, run(w, r.pick(room), expect)];
      case 'remove': return [kind, remove(w, r.pick(idle))];
      case 'remove-network': return [kind, removeNetwork(w, r.pick(removable))];
      case 'strays': return [kind, removeStrays(w)];
      default: return ['create', createNetwork(w, expect)];
    }
  }

  #hostile(): Req {
    const r = this.#rng;
    const t = this.world.template();
    const roll = r.next();
    let path = `/${t.call}`;
    let method: Req['method'] = 'POST';
    let m: Mutated;
    if (roll < 0.64) {
      m = mutate(r, t);
    } else if (roll < 0.74) {
      path = `/${r.pick(CALLS)}`;
      // the template's fields, each holding anything
      const json: JsonObject = Object.fromEntries(Object.keys(t.body).map((k) => [k, randomJson(r)]));
      m = { body: JSON.stringify(json), json, kind: 'random-json', label: `${path.slice(1)} random JSON`, mustRefuse: false };
    } else if (roll < 0.82) {
      m = truncated(r, t);
    } else if (roll < 0.89) {
      path = `/${r.pick(CALLS)}`;
      const n = notAnObject(r);
      // the calls that read no body answer whatever is sent
      m = { ...n, json: undefined, label: `${path.slice(1)} ${n.kind}`, mustRefuse: !NO_BODY.has(path.slice(1)) };
    } else if (roll < 0.97) {
      path = unknownPath(r);
      m = { body: r.next() < 0.5 ? '{}' : JSON.stringify(t.body), json: undefined, kind: 'unknown-path', label: `unknown path ${path.slice(0, 40)}`, mustRefuse: false };
    } else {
      method = 'GET';
      m = { body: '', json: undefined, kind: 'get', label: `GET ${t.call}`, mustRefuse: false };
    }
    const contentType = r.next() < 0.05 ? r.pick(CONTENT_TYPES) : undefined;
    return { path, method, body: m.body, json: m.json, contentType, kind: m.kind, label: m.label, lane: undefined, mustRefuse: m.mustRefuse };
  }
}

function validReq(step: Step, lane: number): Req {
  return { path: `/${step.call}`, method: 'POST', body: JSON.stringify(step.body), json: step.body, contentType: undefined, kind: 'valid',
    label: `${step.call} (valid)`, lane, mustRefuse: false };
}
