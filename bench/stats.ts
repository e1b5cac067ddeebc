// Small statistics over repetitions: the figures every report and the gate use.

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** a / b, NaN when either is missing or b is zero. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN;
}

/**
 * How much repetitions disagree, relative to their median: half the range.
 * A change smaller than this cannot be told apart from run-to-run noise.
 */
export function noise(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length < 2) return 0;
  const m = median(v);
  if (m === 0) return 0;
  return (Math.max(...v) - Math.min(...v)) / 2 / Math.abs(m);
}

/** Parses "10%", "0.1" or "10" (percent) into a fraction. */
export function parseFraction(s: string): number {
  const t = s.trim();
  const n = Number(t.endsWith('%') ? t.slice(0, -1) : t);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a percentage: ${s}`);
  return t.endsWith('%') || n > 1 ? n / 100 : n;
}

/** Parses "1k", "50k", "1.5m", "2000" or "max" (= 0, unlimited). */
export function parseRate(s: string): number {
  const t = s.trim().toLowerCase();
  if (t === 'max') return 0;
  const mult = t.endsWith('k') ? 1e3 : t.endsWith('m') ? 1e6 : 1;
  const n = Number(mult === 1 ? t : t.slice(0, -1)) * mult;
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a rate: ${s}`);
  return n;
}

/** Deterministic PRNG (mulberry32) so topic bindings and keys are the same in every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
