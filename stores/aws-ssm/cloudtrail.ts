// Who read an SSM parameter: CloudTrail's event history (LookupEvents) of GetParameter and
// GetParameters calls naming it, in a time window. The compromise response (rekey respond) puts
// them into its incident record. The parameter is found in each event's request, where CloudTrail
// records it (an event's Resources list is often empty for SSM reads).
import type { AwsSsmConfig } from './config';

/** One read, as CloudTrail recorded it: who (the IAM identity), with which access key, when, from
 * which address, with what client. */
export interface ParameterRead {
  at: string;
  event: string;
  who: string;
  accessKeyId?: string;
  from?: string;
  userAgent?: string;
  /** The call was refused (AccessDenied...): an attempt, not a read. */
  error?: string;
}

const READS = ['GetParameter', 'GetParameters', 'GetParameterHistory', 'GetParametersByPath'] as const;

/** Pages of 50 events per kind of read, at most: a busy account's 90 days would take hours at
 * CloudTrail's two lookups a second. */
const MAX_PAGES = 40;

interface TrailRecord {
  userIdentity?: { arn?: string; userName?: string; accessKeyId?: string; type?: string };
  sourceIPAddress?: string;
  userAgent?: string;
  requestParameters?: { name?: string; names?: string[]; path?: string; recursive?: boolean } | null;
  errorCode?: string;
}

/** `name` as a request names it: bare, with a version or label (`name:3`), or as an ARN. */
function names(requested: string, name: string): boolean {
  const bare = requested.replace(/^arn:[^:]*:ssm:[^:]*:\d*:parameter/, '').replace(/:[^/:]+$/, '');
  const slash = (n: string) => (n.startsWith('/') ? n : `/${n}`);
  return slash(bare) === slash(name);
}

/** A GetParametersByPath request for `path` that returns `name`. */
function underPath(path: string, recursive: boolean, name: string): boolean {
  const dir = path.endsWith('/') ? path : `${path}/`;
  if (!name.startsWith(dir)) return false;
  return recursive || !name.slice(dir.length).includes('/');
}

export async function parameterReads(
  cfg: AwsSsmConfig,
  name: string,
  window: { since: Date; until: Date },
): Promise<{ reads: ParameterRead[]; cutShort: boolean }> {
  const { CloudTrailClient, LookupEventsCommand } = await import('@aws-sdk/client-cloudtrail');
  const trail = new CloudTrailClient({
    region: cfg.region,
    // LookupEvents allows two calls a second per account and region: the SDK backs off.
    maxAttempts: 8,
    ...(cfg.cloudTrailEndpoint ? { endpoint: cfg.cloudTrailEndpoint } : {}),
  });
  const reads: ParameterRead[] = [];
  let cutShort = false;
  try {
    // One lookup attribute per call (the API's rule): by event name, then the parameter in the
    // request.
    for (const event of READS) {
      let NextToken: string | undefined;
      let pages = 0;
      do {
        const page = await trail.send(
          new LookupEventsCommand({
            LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: event }],
            StartTime: window.since,
            EndTime: window.until,
            MaxResults: 50,
            NextToken,
          }),
        );
        for (const e of page.Events ?? []) {
          const record = JSON.parse(e.CloudTrailEvent ?? '{}') as TrailRecord;
          const req = record.requestParameters ?? {};
          const requested = [...(req.name ? [req.name] : []), ...(req.names ?? [])];
          const byPath = req.path !== undefined && underPath(req.path, req.recursive === true, name);
          if (!byPath && !requested.some((r) => names(r, name))) continue;
          const id = record.userIdentity ?? {};
          reads.push({
            at: (e.EventTime ?? new Date(0)).toISOString(),
            event,
            who: id.arn ?? e.Username ?? id.userName ?? 'unknown',
            ...((e.AccessKeyId ?? id.accessKeyId) ? { accessKeyId: e.AccessKeyId ?? id.accessKeyId } : {}),
            ...(record.sourceIPAddress ? { from: record.sourceIPAddress } : {}),
            ...(record.userAgent ? { userAgent: record.userAgent } : {}),
            ...(record.errorCode ? { error: record.errorCode } : {}),
          });
        }
        NextToken = page.NextToken;
        if (NextToken && ++pages >= MAX_PAGES) {
          cutShort = true;
          break;
        }
      } while (NextToken);
    }
  } finally {
    trail.destroy();
  }
  return { reads: reads.sort((a, b) => a.at.localeCompare(b.at)), cutShort };
}
