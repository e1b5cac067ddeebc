/**
 * How one side of a ring pair tells the other "there is something for you".
 *
 * The sleeper arms the bell, checks for work once more, and only then sleeps, so
 * a ring that arrives between the check and the sleep is never lost. A ringer
 * pays one atomic add per batch, and a notify only when someone sleeps.
 */
export interface Doorbell {
  /** Called by the sleeper before its last look for work; returns a token for sleep(). */
  arm(): number;
  /** The last look found work after all. */
  disarm(): void;
  /** Calls wake once, as soon as the bell has been rung since arm() returned token. */
  sleep(token: number, wake: () => void): void;
  ring(): void;
}

const SEQ = 0;
/** 0, or `token | 1` while the sleeper that armed with `token` may sleep */
const ARMED = 1;
/** SEQ moves in steps of 2: every token is even, so `token | 1` is never 0. */
const STEP = 2;

/** Between threads: Atomics on a shared word. */
export class SharedDoorbell implements Doorbell {
  readonly words: Int32Array;

  constructor(sab: SharedArrayBuffer = new SharedArrayBuffer(8)) {
    this.words = new Int32Array(sab);
  }

  arm(): number {
    const token = Atomics.load(this.words, SEQ);
    Atomics.store(this.words, ARMED, token | 1);
    return token;
  }

  disarm(): void {
    Atomics.store(this.words, ARMED, 0);
  }

  sleep(token: number, wake: () => void): void {
    const result = Atomics.waitAsync(this.words, SEQ, token);
    if (result.async) {
      result.value.then(() => {
        this.disarm();
        wake();
      });
    } else {
      this.disarm();
      setImmediate(wake);
    }
  }

  /** Blocks until rung, or for at most `timeoutMs` (the shard's next deadline). */
  sleepSync(token: number, timeoutMs = Infinity): void {
    Atomics.wait(this.words, SEQ, token, timeoutMs);
    this.disarm();
  }

  ring(): void {
    const before = Atomics.add(this.words, SEQ, STEP);
    // One notify per arming, by the first ring to take the mark: each notify takes
    // V8's one process-wide futex mutex, which the waking sleeper wants too (at
    // saturation 5 of 6 notifies found nobody left to wake). Only a ring whose
    // step came after the arming (SEQ had reached the token) may take it: one from
    // before was seen by the sleeper's last look, its notify could come before the
    // sleep, and the rings after it would find the bell unarmed and wake no one.
    const armed = Atomics.load(this.words, ARMED);
    if (armed !== 0 && ((before - (armed ^ 1)) | 0) >= 0 && Atomics.compareExchange(this.words, ARMED, armed, 0) === armed) {
      Atomics.notify(this.words, SEQ);
    }
  }
}

/** Within one thread (--workers 0): the same protocol over a counter and setImmediate. */
export class LocalDoorbell implements Doorbell {
  private seq = 0;
  private sleeper: (() => void) | null = null;

  arm(): number {
    return this.seq;
  }

  disarm(): void {}

  sleep(token: number, wake: () => void): void {
    if (token !== this.seq) setImmediate(wake);
    else this.sleeper = wake;
  }

  ring(): void {
    this.seq++;
    const wake = this.sleeper;
    if (wake !== null) {
      this.sleeper = null;
      setImmediate(wake);
    }
  }
}

/**
 * Runs `work` whenever the bell rings, in batches, yielding to the event loop in
 * between. `work` returns true when it made progress (there may be more);
 * `waiting` says cheaply whether more is waiting right now.
 * Anything `work` throws stops the pump and goes to `failed`: it runs from
 * setImmediate and promise callbacks, where a throw would end the process.
 */
export class Pump {
  private stopped = false;

  constructor(
    private readonly bell: Doorbell,
    private readonly work: () => boolean,
    private readonly waiting: () => boolean,
    private readonly failed: (err: unknown) => void,
  ) {
    this.run = this.run.bind(this);
  }

  start(): void {
    setImmediate(this.run);
  }

  stop(): void {
    this.stopped = true;
  }

  private run(): void {
    try {
      this.step();
    } catch (err) {
      this.stopped = true;
      this.failed(err);
    }
  }

  private step(): void {
    if (this.stopped) return;
    // More waiting: yield to the sockets first. Else the last look (after
    // arming) goes in this turn: at low load a turn more per wake-up, with its
    // epoll, was paid by every message.
    if (this.work() && this.waiting()) {
      setImmediate(this.run);
      return;
    }
    const token = this.bell.arm();
    if (this.work()) {
      this.bell.disarm();
      setImmediate(this.run);
      return;
    }
    this.bell.sleep(token, this.run);
  }
}
