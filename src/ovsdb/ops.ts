// Pure builders for OVSDB transaction operations (RFC 7047 §5.2). They return
// plain data and do no I/O: callers concatenate them and send one `transact`.
import type { Row, Uuid, Value } from './notation.js';

/** RFC 7047 §5.1 <function>: the order functions only apply to integers and reals. */
export type ConditionFunction = '==' | '!=' | 'includes' | 'excludes' | '<' | '<=' | '>' | '>=';
export type Condition = [column: string, fn: ConditionFunction, value: Value];

/** RFC 7047 §5.1 <mutator>: arithmetic on integer/real columns (and their sets), insert/delete on sets and maps. */
export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';
export type Mutation = [column: string, mutator: Mutator, value: Value];

/** §5.2.1 */
export interface InsertOperation {
  op: 'insert';
  table: string;
  row: Row;
  'uuid-name'?: string;
}
/** §5.2.2 */
export interface SelectOperation {
  op: 'select';
  table: string;
  where: Condition[];
  columns?: string[];
}
/** §5.2.3 */
export interface UpdateOperation {
  op: 'update';
  table: string;
  where: Condition[];
  row: Row;
}
/** §5.2.4 */
export interface MutateOperation {
  op: 'mutate';
  table: string;
  where: Condition[];
  mutations: Mutation[];
}
/** §5.2.5 */
export interface DeleteOperation {
  op: 'delete';
  table: string;
  where: Condition[];
}
/** §5.2.6 */
export interface WaitOperation {
  op: 'wait';
  table: string;
  where: Condition[];
  columns: string[];
  until: '==' | '!=';
  rows: Row[];
  timeout?: number;
}
/** §5.2.7 */
export interface CommitOperation {
  op: 'commit';
  durable: boolean;
}
/** §5.2.8 */
export interface AbortOperation {
  op: 'abort';
}
/** §5.2.9 */
export interface CommentOperation {
  op: 'comment';
  comment: string;
}
/** §5.2.10 */
export interface AssertOperation {
  op: 'assert';
  lock: string;
}

export type Operation =
  | InsertOperation
  | SelectOperation
  | UpdateOperation
  | MutateOperation
  | DeleteOperation
  | WaitOperation
  | CommitOperation
  | AbortOperation
  | CommentOperation
  | AssertOperation;

/** A successful operation's result (§5.2): insert → uuid, select → rows, update/mutate/delete → count, others → {}. */
export interface OperationResult {
  uuid?: Uuid;
  rows?: Row[];
  count?: number;
}

/** `uuidName` lets later operations in the same transaction refer to the row as ["named-uuid", uuidName]. */
export function insert(table: string, row: Row, uuidName?: string): InsertOperation {
  return uuidName === undefined ? { op: 'insert', table, row } : { op: 'insert', table, row, 'uuid-name': uuidName };
}

/** `columns` omitted selects every column (plus _uuid and _version). */
export function select(table: string, where: Condition[], columns?: string[]): SelectOperation {
  return columns === undefined ? { op: 'select', table, where } : { op: 'select', table, where, columns };
}

export function update(table: string, where: Condition[], row: Row): UpdateOperation {
  return { op: 'update', table, where, row };
}

export function mutate(table: string, where: Condition[], mutations: Mutation[]): MutateOperation {
  return { op: 'mutate', table, where, mutations };
}

export function del(table: string, where: Condition[]): DeleteOperation {
  return { op: 'delete', table, where };
}

/**
 * Aborts the transaction with "timed out" unless the rows matching `where`, projected onto `columns`,
 * are (`==`) or are not (`!=`) exactly `rows`. With `timeoutMs` 0 it is a plain precondition;
 * omitted, the server waits forever (§5.2.6).
 */
export function wait(
  table: string,
  where: Condition[],
  columns: string[],
  until: '==' | '!=',
  rows: Row[],
  timeoutMs?: number,
): WaitOperation {
  const op: WaitOperation = { op: 'wait', table, where, columns, until, rows };
  if (timeoutMs !== undefined) op.timeout = timeoutMs;
  return op;
}

/** "insert into Port" / "mutate Bridge" — for error messages and logs. */
export function describeOperation(op: Operation): string {
  switch (op.op) {
    case 'insert':
      return `insert into ${op.table}`;
    case 'select':
    case 'update':
    case 'mutate':
    case 'delete':
    case 'wait':
      return `${op.op} ${op.table}`;
    default:
      return op.op;
  }
}
