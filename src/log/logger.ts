/**
 * The broker's one logger: a line per call, to the console as warren always
 * printed it ("warren: ..." on stderr for warnings and errors, stdout below),
 * filtered by the console level (--log-level, warnings and up by default), and
 * to sinks (the amq.rabbitmq.log exchange) that take info and up whatever the
 * console shows (debug too when the console shows debug). Worker threads have
 * their own copy, which prints and posts its lines to the acceptor's sinks
 * (worker-log.ts).
 *
 * Connection events (accepting, authenticated, closing, a refused login) go
 * through `connectionLog`, RabbitMQ's "connection" category: its console level
 * is error by default, so warren's console stays as quiet as it always was
 * until --log-level asks for more.
 */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warning', 'error'];

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3 };

/** Receives each line a sink's level lets through; it must not throw. */
export type LogSink = (level: LogLevel, text: string) => void;

export class Logger {
  constructor(
    /** lines below this level are not printed */
    public consoleLevel: LogLevel,
    /** shared by the categories, so the log exchange sees them all */
    private readonly sinks = new Set<LogSink>(),
  ) {}

  /** Another category: its own console level, the same sinks. */
  category(consoleLevel: LogLevel): Logger {
    return new Logger(consoleLevel, this.sinks);
  }

  debug(text: string): void {
    this.write('debug', text);
  }

  info(text: string): void {
    this.write('info', text);
  }

  warning(text: string): void {
    this.write('warning', text);
  }

  /** `cause` is printed after the line (its stack on the console), as console.error(text, err) did. */
  error(text: string, cause?: unknown): void {
    if (cause === undefined) this.write('error', text);
    else this.write('error', text, cause);
  }

  /** A line the CLI always prints on stdout, as written (the startup banner); sinks get it as info. */
  announce(line: string): void {
    console.log(line);
    this.toSinks('info', line);
  }

  /** A line another thread logged (and printed): to the sinks only. */
  forward(level: LogLevel, text: string): void {
    this.toSinks(level, text);
  }

  addSink(sink: LogSink): void {
    this.sinks.add(sink);
  }

  removeSink(sink: LogSink): void {
    this.sinks.delete(sink);
  }

  private write(level: LogLevel, text: string, ...cause: unknown[]): void {
    if (RANK[level] >= RANK[this.consoleLevel]) {
      if (RANK[level] >= RANK.warning) console.error(`warren: ${text}`, ...cause);
      else console.log(`warren: ${text}`, ...cause);
    }
    this.toSinks(level, cause.length === 0 ? text : `${text}: ${describe(cause[0])}`);
  }

  private toSinks(level: LogLevel, text: string): void {
    // info and up whatever the console shows; debug too when the console shows it
    if (this.sinks.size === 0 || RANK[level] < Math.min(RANK.info, RANK[this.consoleLevel])) return;
    for (const sink of this.sinks) sink(level, text);
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
}

export function isLogLevel(name: string): name is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(name);
}

/** The process's logger: every log line in src/ goes through it (or its connection category). */
export const log = new Logger('warning');

export const connectionLog = log.category('error');

/** --log-level: what the console shows, in every category. */
export function setConsoleLevel(level: LogLevel): void {
  log.consoleLevel = connectionLog.consoleLevel = level;
}
