// One change of the records, as the journal holds it and as the state in
// memory takes it: a record put or removed, or leases of one pool changed
// (with some of the pool's fields). A batch of changes is applied by the
// StateCache once it is durable, and by the loader when it replays the journal:
// both through applyChanges(), so the two cannot differ.
//
// Applying costs what the change holds, never what the state holds: leases
// are changed in the pool's lease map in place. Records are frozen as they
// are applied (a lease record, not the pool's lease map: the store changes that).
import type { EndpointRecord, LeaseRecord, NetworkRecord, PoolFields, PoolRecord, State } from './records.js';

export type Kind = 'networks' | 'endpoints' | 'pools';

export type Change =
  | { op: 'put'; kind: 'networks'; record: NetworkRecord }
  | { op: 'put'; kind: 'endpoints'; record: EndpointRecord }
  | { op: 'put'; kind: 'pools'; record: PoolRecord }
  | { op: 'remove'; kind: Kind; id: string }
  /** Leases of pool `pool`: an address mapped to null loses its lease; `fields` set along (null: unset). */
  | { op: 'leases'; pool: string; leases: Readonly<Record<string, LeaseRecord | null>>; fields: Readonly<Record<string, unknown>> };

/**
 * A lease change as the journal writes it: undefined (no lease, no field)
 * becomes null, which JSON keeps. Called by StateCache.changeLeases.
 */
export function leaseChange(pool: string, leases: Readonly<Record<string, LeaseRecord | undefined>>, fields: PoolFields = {}): Change {
  const l: Record<string, LeaseRecord | null> = {};
  for (const [address, lease] of Object.entries(leases)) l[address] = lease ? Object.freeze({ ...lease }) : null;
  const f: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) if (name !== 'id' && name !== 'leases') f[name] = value ?? null;
  return { op: 'leases', pool, leases: l, fields: f };
}

/** Applies changes in order to `state` (in place). A lease change of a pool that is not there is skipped. */
export function applyChanges(state: State, changes: readonly Change[]): void {
  for (const c of changes) {
    if (c.op === 'remove') {
      delete state[c.kind][c.id];
    } else if (c.op === 'put') {
      if (c.kind === 'pools') state.pools[c.record.id] = storedPool(c.record);
      else state[c.kind][c.record.id] = deepFreeze(c.record);
    } else {
      const p = state.pools[c.pool];
      if (!p) continue;
      const leases = p.leases as Record<string, LeaseRecord>; // the store's own map: changed in place
      for (const [address, lease] of Object.entries(c.leases)) {
        if (lease) leases[address] = Object.isFrozen(lease) ? lease : Object.freeze(lease);
        else delete leases[address];
      }
      if (Object.keys(c.fields).length > 0) state.pools[c.pool] = withFields(p, c.fields);
    }
  }
}

/** Freezes the records of a loaded state as applyChanges would have (StateCache.load). */
export function freezeRecords(state: State): State {
  for (const kind of ['networks', 'endpoints'] as const) Object.values(state[kind]).forEach(deepFreeze);
  for (const [id, p] of Object.entries(state.pools)) state.pools[id] = storedPool(p);
  return state;
}

/** A pool as the state keeps it: frozen, with a lease map of its own (never frozen), each lease frozen. */
function storedPool(p: PoolRecord): PoolRecord {
  const leases: Record<string, LeaseRecord> = {};
  for (const [address, lease] of Object.entries(p.leases)) leases[address] = Object.isFrozen(lease) ? lease : Object.freeze(lease);
  return Object.freeze({ ...p, leases });
}

/** A copy of pool `p` with `fields` set (null: unset), sharing its lease map. */
function withFields(p: PoolRecord, fields: Readonly<Record<string, unknown>>): PoolRecord {
  const next: Record<string, unknown> = { ...p };
  for (const [name, value] of Object.entries(fields)) {
    if (name === 'id' || name === 'leases') continue;
    if (value === null) delete next[name];
    else next[name] = value;
  }
  return Object.freeze(next as unknown as PoolRecord);
}

/** Freezes a small record and what it holds (arrays, port names). */
export function deepFreeze<T extends object>(o: T): T {
  if (Object.isFrozen(o)) return o;
  Object.freeze(o);
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v as object);
  return o;
}
