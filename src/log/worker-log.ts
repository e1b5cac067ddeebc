/**
 * A worker thread's log lines (a shard's) reach the acceptor's log sinks, so
 * amq.rabbitmq.log gets them too: the worker's logger posts each line its
 * sinks take to the parent thread, which hands it to its own sinks (the
 * worker printed it to the console already). Posted, not written into a ring:
 * log lines are rare, never one per message, and a ring record would need a
 * shard writer where store code logs. A worker blocked in Atomics.wait can
 * still post: postMessage does not need its event loop.
 */
import type { MessagePort } from 'node:worker_threads';
import { isLogLevel, type LogLevel, type Logger } from './logger.js';

interface WorkerLogLine {
  warrenLog: LogLevel;
  text: string;
}

/** In a worker: every line `logger` gives its sinks goes to `port` (the parent). */
export function postLogLines(logger: Logger, port: MessagePort): void {
  logger.addSink((level, text) => port.postMessage({ warrenLog: level, text } satisfies WorkerLogLine));
}

/** In the parent: a worker's message, if it is a log line, goes to `logger`'s sinks; returns whether it was one. */
export function receiveLogLine(logger: Logger, message: unknown): boolean {
  const line = message as Partial<WorkerLogLine> | null;
  if (typeof line !== 'object' || line === null || typeof line.warrenLog !== 'string' || !isLogLevel(line.warrenLog)) return false;
  logger.forward(line.warrenLog, String(line.text));
  return true;
}
