import type { FieldTable } from '../protocol/field-types.js';
import type { Binding, ExchangeMatcher } from './exchange-type.js';
import { canonicalTable } from './field-equality.js';

/**
 * Bookkeeping common to every exchange type: binding identity, counts and per-destination
 * lookup (for unbindAll when a queue is deleted). Subclasses keep only their routing index,
 * updated through onBind/onUnbind, which are called exactly once per distinct binding.
 */
export abstract class BindingSet<D> implements ExchangeMatcher<D> {
  // destination -> binding id -> binding. Empty inner maps are deleted, so has() is exact.
  private readonly byDestination = new Map<D, Map<string, Binding<D>>>();
  private count = 0;

  protected abstract onBind(binding: Binding<D>): void;
  protected abstract onUnbind(binding: Binding<D>): void;
  abstract route(routingKey: string, headers: FieldTable | undefined, out: Set<D>): void;

  get bindingCount(): number {
    return this.count;
  }

  bind(destination: D, routingKey: string, args: FieldTable): boolean {
    const id = bindingId(routingKey, args);
    let mine = this.byDestination.get(destination);
    if (mine === undefined) this.byDestination.set(destination, (mine = new Map()));
    else if (mine.has(id)) return false;
    const binding = { destination, routingKey, args };
    mine.set(id, binding);
    this.count++;
    this.onBind(binding);
    return true;
  }

  unbind(destination: D, routingKey: string, args: FieldTable): boolean {
    const mine = this.byDestination.get(destination);
    const id = bindingId(routingKey, args);
    const binding = mine?.get(id);
    if (mine === undefined || binding === undefined) return false;
    mine.delete(id);
    if (mine.size === 0) this.byDestination.delete(destination);
    this.count--;
    this.onUnbind(binding);
    return true;
  }

  unbindAll(destination: D): number {
    const mine = this.byDestination.get(destination);
    if (mine === undefined) return 0;
    this.byDestination.delete(destination);
    this.count -= mine.size;
    for (const binding of mine.values()) this.onUnbind(binding);
    return mine.size;
  }

  *bindings(): Iterable<Binding<D>> {
    for (const mine of this.byDestination.values()) yield* mine.values();
  }

  hasBindingsTo(destination: D): boolean {
    return this.byDestination.has(destination);
  }
}

/** Same key and equal args (in any key order) give the same id; the length prefix keeps keys unambiguous. */
function bindingId(routingKey: string, args: FieldTable): string {
  return `${routingKey.length}:${routingKey}${canonicalTable(args)}`;
}

/**
 * Reference counts per destination: one destination may reach the same index slot through
 * several bindings (same key, different args), and must stay routable until the last goes.
 */
export function addRef<D>(refs: Map<D, number>, d: D): void {
  refs.set(d, (refs.get(d) ?? 0) + 1);
}

/** Returns true when the last reference went and the destination was removed. */
export function dropRef<D>(refs: Map<D, number>, d: D): boolean {
  const n = refs.get(d) ?? 0;
  if (n > 1) {
    refs.set(d, n - 1);
    return false;
  }
  refs.delete(d);
  return true;
}
