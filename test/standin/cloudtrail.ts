// CloudTrail LookupEvents STAND-IN for tests: moto_server records no CloudTrail events. Placed in
// the AWS proxy in front of moto (test/infra/aws-faults.ts), it records every SSM call that
// passes, as CloudTrail records a management event (the caller's access key from the SigV4
// Authorization header, its source address and user agent, the request's parameters), and answers
// `CloudTrail_20131101.LookupEvents` (AWS JSON 1.1) as CloudTrail does: exactly one lookup
// attribute (InvalidLookupAttributesException otherwise), StartTime/EndTime in epoch seconds
// (InvalidTimeRangeException when the start is after the end), MaxResults 1..50
// (InvalidMaxResultsException), newest first, NextToken pages, each event with its
// CloudTrailEvent JSON. Throttling is injected through the proxy like any other fault.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

interface Recorded {
  id: string;
  time: number;
  name: string;
  source: string;
  accessKeyId: string;
  userName: string;
  ip: string;
  userAgent: string;
  request: unknown;
}

const LOOKUP_KEYS: Record<string, (r: Recorded) => string> = {
  EventId: (r) => r.id,
  EventName: (r) => r.name,
  ReadOnly: (r) => String(/^(Get|Describe|List)/.test(r.name)),
  Username: (r) => r.userName,
  AccessKeyId: (r) => r.accessKeyId,
  EventSource: (r) => r.source,
};

export const LOOKUP_TARGET = 'CloudTrail_20131101.LookupEvents';

export class CloudTrailStandIn {
  private readonly events: Recorded[] = [];

  /** `users`: access key id -> the IAM user name CloudTrail would report. */
  constructor(
    private readonly region: string,
    readonly users: Record<string, string> = {},
  ) {}

  /** Records an SSM call that reached the proxy (AWS JSON: the operation in X-Amz-Target). */
  record(req: IncomingMessage, body: Buffer): void {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (!target.startsWith('AmazonSSM.')) return;
    const accessKeyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
    let request: unknown = null;
    try {
      request = JSON.parse(body.toString() || 'null');
    } catch {}
    // SecureString values are never in a request CloudTrail logs for reads; a put's value is
    // redacted by CloudTrail ("HIDDEN_DUE_TO_SECURITY_REASONS"): so here.
    if (request && typeof request === 'object' && 'Value' in request)
      (request as Record<string, unknown>).Value = 'HIDDEN_DUE_TO_SECURITY_REASONS';
    this.events.push({
      id: randomUUID(),
      time: Date.now(),
      name: target.slice('AmazonSSM.'.length),
      source: 'ssm.amazonaws.com',
      accessKeyId,
      userName: this.users[accessKeyId] ?? accessKeyId,
      ip: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '',
      userAgent: String(req.headers['user-agent'] ?? ''),
      request: lowerFirst(request),
    });
  }

  /** LookupEvents: [status, body]. */
  lookup(body: Buffer): [number, Record<string, unknown>] {
    const input = JSON.parse(body.toString() || '{}') as {
      LookupAttributes?: { AttributeKey: string; AttributeValue: string }[];
      StartTime?: number;
      EndTime?: number;
      MaxResults?: number;
      NextToken?: string;
    };
    const error = (type: string, message: string): [number, Record<string, unknown>] => [
      400,
      { __type: type, message },
    ];
    const attrs = input.LookupAttributes ?? [];
    if (attrs.length > 1)
      return error('InvalidLookupAttributesException', 'You cannot specify more than one lookup attribute.');
    const attr = attrs[0];
    const key = attr && LOOKUP_KEYS[attr.AttributeKey];
    if (attr && !key)
      return error('InvalidLookupAttributesException', `Invalid attribute key: ${attr.AttributeKey}`);
    const start = (input.StartTime ?? 0) * 1000;
    const end = (input.EndTime ?? Date.now() / 1000) * 1000;
    if (start > end) return error('InvalidTimeRangeException', 'Start time must be before end time.');
    const max = input.MaxResults ?? 50;
    if (max < 1 || max > 50)
      return error('InvalidMaxResultsException', 'MaxResults must be between 1 and 50.');
    const matching = this.events
      .filter((e) => e.time >= start && e.time <= end && (!attr || key?.(e) === attr.AttributeValue))
      .sort((a, b) => b.time - a.time);
    const from = input.NextToken ? Number(Buffer.from(input.NextToken, 'base64').toString()) : 0;
    const page = matching.slice(from, from + max);
    return [
      200,
      {
        Events: page.map((e) => ({
          EventId: e.id,
          EventName: e.name,
          ReadOnly: LOOKUP_KEYS.ReadOnly?.(e),
          AccessKeyId: e.accessKeyId,
          EventTime: e.time / 1000,
          EventSource: e.source,
          Username: e.userName,
          Resources: [],
          CloudTrailEvent: JSON.stringify({
            eventVersion: '1.09',
            userIdentity: {
              type: 'IAMUser',
              principalId: e.accessKeyId,
              arn: `arn:aws:iam::123456789012:user/${e.userName}`,
              accountId: '123456789012',
              accessKeyId: e.accessKeyId,
              userName: e.userName,
            },
            eventTime: new Date(e.time).toISOString().replace(/\.\d+Z$/, 'Z'),
            eventSource: e.source,
            eventName: e.name,
            awsRegion: this.region,
            sourceIPAddress: e.ip,
            userAgent: e.userAgent,
            requestParameters: e.request,
            responseElements: null,
            eventID: e.id,
            readOnly: LOOKUP_KEYS.ReadOnly?.(e) === 'true',
            eventType: 'AwsApiCall',
            managementEvent: true,
            recipientAccountId: '123456789012',
            eventCategory: 'Management',
          }),
        })),
        ...(from + max < matching.length
          ? { NextToken: Buffer.from(String(from + max)).toString('base64') }
          : {}),
      },
    ];
  }
}

/** CloudTrail logs request parameters in camelCase (`name`, `withDecryption`). */
function lowerFirst(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(lowerFirst);
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v).map(([k, x]) => [k.charAt(0).toLowerCase() + k.slice(1), lowerFirst(x)]),
  );
}
