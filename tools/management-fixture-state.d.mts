/** Types for tools/management-fixture-state.mjs (shared by the fixture recorder and test/management/rabbitmq-shapes.test.ts). */
import type { ChannelModel } from 'amqplib';

export interface ApiReply {
  status: number;
  /** the Location header, where one is sent */
  location: string | null;
  body: any;
}
export type ManagementClient = (method: string, path: string, body?: unknown, auth?: { user: string; password: string }) => Promise<ApiReply>;
export function managementClient(url: string): ManagementClient;
export const VHOST: string;
export const USER: string;
export const EXCHANGE: string;
export const QUEUE: string;
export const CONSUMED: string;
export const PUBLISHED: number;
export const PREFETCH: number;
export function buildState(api: ManagementClient, amqpUrl: string): Promise<ChannelModel[]>;
export const RECORDINGS: [name: string, method: string, path: string, body?: unknown, auth?: { user: string; password: string }][];
