// The rows of the monitored tables, kept by applying a `monitor`'s initial
// contents and `update` notifications (RFC 7047 §4.1.5, §4.1.6), the way
// libovsdb's cache does. Pure: no I/O. OvsdbClient owns one, fills it on every
// (re)connection and empties it when the session ends; readers get it through
// OvsdbClient.view() and never write it.
import { isUuid, type Row, type Uuid } from './notation.js';

/** <table-updates> (§4.1.6): table → row UUID → { old?, new? }; no "new" means the row was deleted. */
export type TableUpdates = Record<string, Record<string, { old?: Row; new?: Row }>>;

/** What readers see of the cache. Rows are the server's, whole (a "modify" carries every monitored column). */
export interface OvsdbView {
  /** Every row of a table, by UUID (empty for a table not monitored). */
  rows(table: string): ReadonlyMap<string, Readonly<Row>>;
  /** A row by UUID. */
  row(table: string, uuid: string | Uuid): Readonly<Row> | undefined;
  /** The UUID of the row whose `name` column is `name` (Bridge, Port and Interface names are unique). */
  uuidByName(table: string, name: string): string | undefined;
}

const EMPTY: ReadonlyMap<string, Row> = new Map();

export class RowCache implements OvsdbView {
  readonly #tables = new Map<string, Map<string, Row>>();
  readonly #names = new Map<string, Map<string, string>>(); // table → name → uuid

  /** Replaces everything with a monitor's initial contents (a new session). */
  reset(initial: unknown): void {
    this.clear();
    this.apply(initial);
  }

  /** Forgets every row (the session ended: nothing here can be trusted until the monitor is back). */
  clear(): void {
    this.#tables.clear();
    this.#names.clear();
  }

  /** Applies one `update` notification's <table-updates>; what is not an object is ignored. */
  apply(updates: unknown): void {
    if (typeof updates !== 'object' || updates === null) return;
    for (const [table, changes] of Object.entries(updates as TableUpdates)) {
      if (typeof changes !== 'object' || changes === null) continue;
      for (const [uuid, change] of Object.entries(changes)) this.#applyRow(table, uuid, change?.new);
    }
  }

  rows(table: string): ReadonlyMap<string, Readonly<Row>> {
    return this.#tables.get(table) ?? EMPTY;
  }

  row(table: string, uuid: string | Uuid): Readonly<Row> | undefined {
    return this.#tables.get(table)?.get(isUuid(uuid) ? uuid[1] : uuid);
  }

  uuidByName(table: string, name: string): string | undefined {
    return this.#names.get(table)?.get(name);
  }

  #applyRow(table: string, uuid: string, next: Row | undefined): void {
    let rows = this.#tables.get(table);
    let names = this.#names.get(table);
    const before = rows?.get(uuid);
    if (before && typeof before['name'] === 'string' && names?.get(before['name']) === uuid) names.delete(before['name']);
    if (next === undefined) {
      rows?.delete(uuid);
      return;
    }
    if (!rows) this.#tables.set(table, (rows = new Map()));
    if (!names) this.#names.set(table, (names = new Map()));
    const row: Row = { ...next, _uuid: ['uuid', uuid] };
    rows.set(uuid, row);
    if (typeof row['name'] === 'string') names.set(row['name'], uuid);
  }
}
