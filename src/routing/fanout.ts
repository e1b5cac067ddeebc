import type { FieldTable } from '../protocol/field-types.js';
import { addRef, BindingSet, dropRef } from './binding-set.js';
import type { Binding } from './exchange-type.js';

/** Fanout exchange: every bound destination gets every message; keys and headers are ignored. */
export class FanoutMatcher<D> extends BindingSet<D> {
  // destination -> number of bindings (bindings may differ by key or args but route the same)
  private readonly refs = new Map<D, number>();

  protected onBind({ destination }: Binding<D>): void {
    addRef(this.refs, destination);
  }

  protected onUnbind({ destination }: Binding<D>): void {
    dropRef(this.refs, destination);
  }

  route(_routingKey: string, _headers: FieldTable | undefined, out: Set<D>): void {
    for (const d of this.refs.keys()) out.add(d);
  }
}
