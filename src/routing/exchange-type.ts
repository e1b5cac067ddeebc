import type { FieldTable } from '../protocol/field-types.js';
import { DirectMatcher } from './direct.js';
import { FanoutMatcher } from './fanout.js';
import { HeadersMatcher } from './headers.js';
import { TopicMatcher } from './topic.js';

/** One binding as RabbitMQ identifies it: (destination, routingKey, args). */
export interface Binding<D> {
  destination: D;
  routingKey: string;
  args: FieldTable;
}

/**
 * The routing index of one exchange. Destinations are opaque and compared by identity,
 * so the broker can use its own queue/exchange objects directly.
 */
export interface ExchangeMatcher<D> {
  /** returns false if this exact binding (destination, routingKey, args) already existed */
  bind(destination: D, routingKey: string, args: FieldTable): boolean;
  /** returns false if no such binding */
  unbind(destination: D, routingKey: string, args: FieldTable): boolean;
  /** removes every binding to destination; returns how many were removed */
  unbindAll(destination: D): number;
  /** adds each matching destination to out (a Set, so duplicates collapse) */
  route(routingKey: string, headers: FieldTable | undefined, out: Set<D>): void;
  readonly bindingCount: number;
  bindings(): Iterable<Binding<D>>;
  hasBindingsTo(destination: D): boolean;
}

export type ExchangeTypeName = 'direct' | 'fanout' | 'topic' | 'headers';

export function createMatcher<D>(type: ExchangeTypeName): ExchangeMatcher<D> {
  switch (type) {
    case 'direct':
      return new DirectMatcher<D>();
    case 'fanout':
      return new FanoutMatcher<D>();
    case 'topic':
      return new TopicMatcher<D>();
    case 'headers':
      return new HeadersMatcher<D>();
    default:
      // Reachable only from untyped callers; the broker should have checked isExchangeType.
      throw new Error(`unknown exchange type: ${String(type)}`);
  }
}

export function isExchangeType(s: string): s is ExchangeTypeName {
  return s === 'direct' || s === 'fanout' || s === 'topic' || s === 'headers';
}
