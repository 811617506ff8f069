// Reading the daemon's JSON log (pino, ISO `time`): when its first reconciliation finished, and
// what errors it logged.
import { readFile } from 'node:fs/promises';

interface LogRecord {
  level?: number;
  time?: string;
  msg?: string;
}

async function records(logFile: string): Promise<LogRecord[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as LogRecord];
    } catch {
      return []; // a line being written
    }
  });
}

/** Epoch ms of a record written at or after `since` (its ISO time stamp), or NaN. */
const timeOf = (r: LogRecord): number => Date.parse(r.time ?? '');

export interface FirstReconciliation {
  /** Epoch ms of the first `reconciled` line at or after `since`; undefined when none came in time. */
  at?: number;
  /** The first reconciliation failure logged meanwhile, if any. */
  failure?: string;
}

/**
 * Waits (up to `withinMs`) for the first `reconciled` line the daemon writes at or after `since`,
 * i.e. the end of the first successful reconciliation after a start.
 */
export async function firstReconciliation(logFile: string, since: number, withinMs = 60_000): Promise<FirstReconciliation> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const recent = (await records(logFile)).filter((r) => timeOf(r) >= since);
    const done = recent.find((r) => r.msg === 'reconciled');
    const failed = recent.find((r) => (r.level ?? 0) >= 50 && /reconciliation failed/.test(r.msg ?? ''));
    if (done) return { at: timeOf(done), ...(failed ? { failure: failed.msg } : {}) };
    if (Date.now() > deadline) return failed ? { failure: failed.msg } : {};
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The number of error lines (level ≥ 50) in the log, and the first one's message. */
export async function loggedErrors(logFile: string): Promise<{ count: number; first?: string }> {
  const errors = (await records(logFile)).filter((r) => (r.level ?? 0) >= 50);
  return { count: errors.length, ...(errors[0] ? { first: String(errors[0].msg).slice(0, 300) } : {}) };
}
