/** A decoded AMQP field table. Values keep JS types; see field-table.ts for the mapping. */
export type FieldValue =
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | Date
  | null
  | FieldValue[]
  | FieldTable
  | { decimals: number; value: number };

export interface FieldTable {
  [key: string]: FieldValue;
}
