/**
 * RabbitMQ's management tag rules (rabbit_mgmt_util:is_authorized*): a user
 * needs a management tag to use the API at all; `administrator` may do
 * everything, `monitoring` may read everything, `management` (and
 * `policymaker`) only the vhosts it has permissions in. Refusals are 401
 * {"error":"not_authorised"} with RabbitMQ's reasons.
 */
import type { AccessControl } from '../auth/access-control.js';
import { HttpError } from './http.js';

/** What a route asks of its user beyond a management tag. */
export type Level = 'management' | 'monitoring' | 'policymaker' | 'administrator';

const MANAGEMENT_TAGS = ['administrator', 'monitoring', 'policymaker', 'management'];

const refused = (reason: string) => new HttpError(401, 'not_authorised', reason);

export interface Grant {
  readonly tags: readonly string[];
  /** whether the user may see this vhost's objects (admins and monitors see all) */
  sees(vhost: string): boolean;
}

/**
 * Checks `user` against a route's level and, when the path names a vhost, the
 * vhost (a monitor may read any; others need permissions there). Throws 401.
 */
export function authorise(access: AccessControl, user: string, method: string, level: Level, vhost: string | undefined): Grant {
  const tags = access.user(user)?.tags ?? [];
  const admin = tags.includes('administrator');
  const monitor = admin || tags.includes('monitoring');
  if (!tags.some((t) => MANAGEMENT_TAGS.includes(t))) throw refused('Not management user');
  if (level === 'administrator' && !admin) throw refused('Not administrator user');
  if (level === 'monitoring' && !monitor) throw refused('Not monitor user');
  // A policy itself: a policymaker with permissions in its vhost, or an administrator.
  const policymaker = admin || (tags.includes('policymaker') && (vhost === undefined || access.mayUseVHost(user, vhost)));
  if (level === 'policymaker' && !policymaker) throw refused('User not authorised to access object');
  const sees = (v: string) => monitor || access.mayUseVHost(user, v);
  const reads = method === 'GET';
  if (vhost !== undefined && !admin && !(reads ? sees(vhost) : access.mayUseVHost(user, vhost))) {
    throw refused('User not authorised to access virtual host');
  }
  return { tags, sees };
}
