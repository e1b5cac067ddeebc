// One clock for send timestamps and receive times. process.hrtime is the
// monotonic clock shared by every thread and process on the machine, so a
// timestamp written in one worker (or the null server) can be compared in another.

/** Microseconds on the monotonic clock, as a double (exact well past 100 years of uptime). */
export function nowUs(): number {
  const t = process.hrtime();
  return t[0] * 1e6 + t[1] / 1e3;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sleeps until the monotonic clock reaches `us`. */
export async function sleepUntilUs(us: number): Promise<void> {
  const ms = (us - nowUs()) / 1000;
  if (ms > 0) await sleep(ms);
}

/** Burns the CPU for `us` microseconds: models a slow broker (a sleep would not cost CPU). */
export function spinUs(us: number): void {
  const end = nowUs() + us;
  while (nowUs() < end) { /* spin */ }
}

/** Rejects with `message` unless `p` settles within `ms`; never leaves a timer behind. */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
