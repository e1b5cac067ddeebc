/**
 * Regular expressions that users write: permissions, policy patterns, the
 * management API's name filters. JavaScript's engine backtracks, and a pattern
 * like ^(a+)+$ against forty a's and a ! takes minutes, on the thread that
 * serves every client; any management user could send one as a filter.
 * RabbitMQ's PCRE stops at a match limit. Here V8 is told to finish such a
 * match on its linear-time engine once a match has backtracked 50,000 times:
 * the same answers, in time proportional to the name. Patterns that engine
 * cannot run (backreferences, lookarounds) still backtrack.
 */
import v8 from 'node:v8';

v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/** `source` compiled after the flag is set (V8 decides at compile time); throws SyntaxError for a bad one. */
export function userRegex(source: string): RegExp {
  return new RegExp(source);
}
