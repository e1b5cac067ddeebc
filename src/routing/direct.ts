import type { FieldTable } from '../protocol/field-types.js';
import { addRef, BindingSet, dropRef } from './binding-set.js';
import type { Binding } from './exchange-type.js';

/** Direct exchange: a message goes to the bindings whose key equals its routing key exactly. */
export class DirectMatcher<D> extends BindingSet<D> {
  // routing key -> destination -> number of bindings (they may differ only by args)
  private readonly byKey = new Map<string, Map<D, number>>();

  protected onBind({ destination, routingKey }: Binding<D>): void {
    let refs = this.byKey.get(routingKey);
    if (refs === undefined) this.byKey.set(routingKey, (refs = new Map()));
    addRef(refs, destination);
  }

  protected onUnbind({ destination, routingKey }: Binding<D>): void {
    const refs = this.byKey.get(routingKey);
    if (refs === undefined) return;
    dropRef(refs, destination);
    if (refs.size === 0) this.byKey.delete(routingKey);
  }

  route(routingKey: string, _headers: FieldTable | undefined, out: Set<D>): void {
    const refs = this.byKey.get(routingKey);
    if (refs !== undefined) for (const d of refs.keys()) out.add(d);
  }
}
