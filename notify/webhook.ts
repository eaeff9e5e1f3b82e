// An event as a CloudEvent 1.0 in structured mode (application/cloudevents+json), signed:
// `rekey-signature: sha256=<hex of HMAC-SHA256 over the body with the sink's key>`. Its id is the
// event's, the same on every redelivery: a receiver handles an id once.
import { createHmac } from 'node:crypto';
import type { RekeyEvent } from '../shared/notify-events';

export const SIGNATURE_HEADER = 'rekey-signature';

/** The body and headers of `e` as a CloudEvent, signed with `key`. */
export async function signedCloudEvent(
  e: RekeyEvent,
  key: string,
): Promise<{ body: string; headers: Record<string, string> }> {
  const { CloudEvent, HTTP } = await import('cloudevents');
  const ce = new CloudEvent({
    specversion: '1.0',
    id: e.id,
    source: `rekey:${e.namespace}/${e.workflowType}`,
    type: `rekey.${e.type}`,
    subject: e.workflowId,
    time: e.time,
    datacontenttype: 'application/json',
    data: e,
  });
  const message = HTTP.structured(ce);
  const body = String(message.body);
  const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, String(v)]));
  return { body, headers: { ...headers, [SIGNATURE_HEADER]: `sha256=${hmac(key, body)}` } };
}

export const hmac = (key: string, body: string): string =>
  createHmac('sha256', key).update(body).digest('hex');
