// The benches' knobs: sizes and counts given in the environment (BENCH_PORTS, SIM_HOSTS, …).

/** A positive integer from the environment variable `name`, or `fallback` when it is unset or empty; throws on anything else. */
export function knob(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw}: a positive integer, please`);
  return n;
}
