// Small statistics for the benchmark: nearest-rank percentiles of latency samples (ms).

/** The nearest-rank `p` percentile (0 < p ≤ 1) of `xs`; NaN for no samples. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]!;
}

/** The median (p50) of `xs`. */
export const median = (xs: readonly number[]): number => percentile(xs, 0.5);

/** Milliseconds as the table prints them: one decimal below 100, none above. */
export function ms(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  return x < 100 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`;
}

/** Runs `fn` and returns its result with the time it took (ms). */
export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
}

/** Runs `count` jobs with at most `width` at once; returns the results in job order. */
export async function pool<T>(count: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      out[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, lane));
  return out;
}
