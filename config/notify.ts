// notify: in rekey.yaml: where rekey's events go (a signed webhook, Slack, mail) and which go
// where, per environment. Credentials (the webhook's HMAC key, Slack's webhook URL, the SMTP
// password) are named by reference, never written here.
import { z } from 'zod';
import { EVENT_TYPES, type EventType, type RekeyEvent } from '../shared/notify-events';
import { duration } from './duration';
import { SecretSource } from './secret-source';
import { didYouMean } from './suggest';

const name = z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-"');

const WebhookSink = z.strictObject({
  type: z.literal('webhook'),
  /** Receives each event as a CloudEvent (structured JSON) by POST. */
  url: z.url(),
  /** The HMAC-SHA256 key the body is signed with (header rekey-signature: sha256=<hex>). */
  secret: SecretSource,
});

const SlackSink = z.strictObject({
  type: z.literal('slack'),
  /** The incoming webhook's URL: a credential itself (anyone holding it can post). */
  url: SecretSource,
});

const SmtpSink = z.strictObject({
  type: z.literal('smtp'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(587),
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  secure: z.boolean().default(false),
  /** Refuse to send without TLS (STARTTLS required). */
  requireTls: z.boolean().default(false),
  /** A CA bundle (PEM) the server's certificate must chain to, besides the system's. */
  caFile: z.string().optional(),
  user: z.string().optional(),
  password: SecretSource.optional(),
  from: z.email(),
  /** Who gets every event routed here (on-call); a gate's mail also goes to its approvers'
   * addresses (notify.addresses). */
  to: z.array(z.email()).default([]),
});

export const Sink = z.discriminatedUnion('type', [WebhookSink, SlackSink, SmtpSink]);
export type SinkConfig = z.infer<typeof Sink>;

const Route = z.strictObject({
  /** Which events (all when left out). */
  events: z.array(z.enum(EVENT_TYPES)).min(1).optional(),
  /** Runs changing any of these environments (all when left out). */
  environments: z.array(name).min(1).optional(),
  sinks: z.array(name).min(1),
});

export const Notify = z.strictObject({
  /** The Temporal Web UI's address: events link to the run's page there. */
  webUi: z.url().optional(),
  sinks: z.record(name, Sink),
  routes: z.array(Route).min(1),
  /** Approver -> mail address: a gate's mail goes to the approvers it names. */
  addresses: z.record(name, z.email()).default({}),
  /** secret.due: how long before a secret's due date the daily secret watch announces it. */
  dueWithin: duration.default('14d'),
});
export type NotifyConfig = z.infer<typeof Notify>;

type Issue = (path: (string | number)[], message: string) => void;

/** Routes name sinks and environments that exist; addresses are of approvers. */
export function checkNotify(
  notify: NotifyConfig | undefined,
  environments: string[],
  approvers: string[],
  issue: Issue,
): void {
  if (!notify) return;
  const sinks = Object.keys(notify.sinks);
  notify.routes.forEach((route, i) => {
    route.sinks.forEach((s, j) => {
      if (!sinks.includes(s))
        issue(['notify', 'routes', i, 'sinks', j], `unknown sink "${s}"${didYouMean(s, sinks)}`);
    });
    route.environments?.forEach((e, j) => {
      if (!environments.includes(e))
        issue(
          ['notify', 'routes', i, 'environments', j],
          `unknown environment "${e}"${didYouMean(e, environments)}`,
        );
    });
  });
  for (const who of Object.keys(notify.addresses))
    if (!approvers.includes(who))
      issue(['notify', 'addresses', who], `"${who}" is not an approver${didYouMean(who, approvers)}`);
}

const routeMatches = (
  route: NotifyConfig['routes'][number],
  type: EventType,
  environments: readonly string[],
) =>
  (!route.events || route.events.includes(type)) &&
  (!route.environments || environments.some((e) => route.environments?.includes(e)));

/** The event types some route sends for a run changing `environments` (none: the run emits none). */
export function routedTypes(notify: NotifyConfig | undefined, environments: readonly string[]): EventType[] {
  if (!notify) return [];
  return EVENT_TYPES.filter((t) => notify.routes.some((r) => routeMatches(r, t, environments)));
}

/** The sinks `event` goes to, each once. */
export function sinksOf(notify: NotifyConfig | undefined, event: RekeyEvent): string[] {
  if (!notify) return [];
  const names = notify.routes
    .filter((r) => routeMatches(r, event.type, event.environments))
    .flatMap((r) => r.sinks);
  return [...new Set(names)];
}
