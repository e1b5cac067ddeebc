/**
 * amqplib's generated codec, for wire tests that build any method from field
 * values: the frames come from another project's encoder than the broker's.
 */
import { createRequire } from 'node:module';

export const defs = createRequire(import.meta.url)('amqplib/lib/defs') as {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  [name: string]: unknown;
};

/** A method's id by amqplib's name for it, e.g. 'QueueDeclare'. */
export const id = (name: string) => defs[name] as number;

/** tx.select, tx.commit or tx.rollback on an amqplib channel, which has no tx API: its rpc sends any method and waits for the reply. */
export const txMethod = (channel: object, name: 'TxSelect' | 'TxCommit' | 'TxRollback'): Promise<unknown> =>
  (channel as { rpc(method: number, fields: object, expect: number): Promise<unknown> }).rpc(id(name), {}, id(`${name}Ok`));
