/**
 * A channel's totals for the management API's message_stats (RabbitMQ's
 * channel stats): each an integer increment where the event happens, so the
 * publish and deliver paths pay nothing more.
 */
export class ChannelStats {
  /** basic.publish received (routed or not) */
  publish = 0;
  /** unroutable with mandatory set: basic.return sent */
  returnUnroutable = 0;
  /** unroutable without mandatory: dropped */
  dropUnroutable = 0;
  /** basic.deliver to a consumer that acks */
  deliver = 0;
  /** basic.deliver to a no-ack consumer */
  deliverNoAck = 0;
  /** basic.get-ok with acks */
  get = 0;
  /** basic.get-ok with no-ack */
  getNoAck = 0;
  /** basic.get-empty */
  getEmpty = 0;
  /** deliveries and get-oks with the redelivered flag */
  redeliver = 0;
  /** deliveries acked (basic.ack, each tag of a multiple ack) */
  ack = 0;
  /** publishes confirmed with basic.ack (kept by the ConfirmTracker, copied here when read) */
  confirm = 0;

  /** Adds another's totals (a closed channel's into its vhost's). */
  add(other: Readonly<ChannelStats>): void {
    this.publish += other.publish;
    this.returnUnroutable += other.returnUnroutable;
    this.dropUnroutable += other.dropUnroutable;
    this.deliver += other.deliver;
    this.deliverNoAck += other.deliverNoAck;
    this.get += other.get;
    this.getNoAck += other.getNoAck;
    this.getEmpty += other.getEmpty;
    this.redeliver += other.redeliver;
    this.ack += other.ack;
    this.confirm += other.confirm;
  }
}
