// Who read an exposed secret (rekey respond): for each of its locations, the reads its store's
// access log records between the time it was exposed (--exposed-since, or the day the replaced
// value was written) and now. SSM: CloudTrail's event history. Other stores keep no access log
// rekey can read by API: the record says where to look.
import { parseDuration } from '../config/duration';
import type { Config } from '../config/schema';
import { placeIn } from '../config/secret-recipes';
import { parameterReads } from '../stores/aws-ssm/cloudtrail';
import type { AwsSsmConfig } from '../stores/aws-ssm/config';
import { SsmStore } from '../stores/aws-ssm/driver';
import { errorText } from '../workflows/errors';
import type { IncidentEntry } from './incident';

/** Where another store's reads are logged, if anywhere. */
const ELSEWHERE: Record<string, string> = {
  'azure-keyvault':
    "Key Vault's diagnostic logs (AuditEvent, SecretGet) in Log Analytics or a storage account",
  file: 'no access log: a file store records no reads',
};

/** CloudTrail's event history reaches back 90 days. */
const HISTORY = parseDuration('90d');

export async function readsOf(
  config: Config,
  env: string,
  entry: IncidentEntry,
  opts: { exposedSince?: Date; until: Date },
): Promise<NonNullable<IncidentEntry['reads']>> {
  const recipe = config.secrets[entry.secret];
  if (!recipe) return [];
  const out: NonNullable<IncidentEntry['reads']> = [];
  for (const l of recipe.locations) {
    const { store, name } = placeIn(l, env, config.environments[env]?.store);
    const place = `${store}:${name}`;
    const cfg = config.stores[store];
    if (cfg?.type !== 'aws-ssm') {
      out.push({
        place,
        unavailable: `${cfg?.type ?? 'unknown'} store: ${ELSEWHERE[cfg?.type ?? ''] ?? 'its access log is not readable by rekey'}`,
      });
      continue;
    }
    try {
      const replaced = entry.places?.find((p) => p.place === place)?.from;
      const since = opts.exposedSince ?? (await writtenAt(store, cfg, name, replaced));
      const floor = new Date(opts.until.getTime() - HISTORY);
      const from = since < floor ? floor : since;
      const found = await parameterReads(cfg, name, { since: from, until: opts.until });
      const notes = [
        ...(since < floor
          ? ["CloudTrail's event history holds 90 days: older reads are in a trail's S3 logs, if one is kept"]
          : []),
        ...(found.cutShort
          ? [
              'the lookup stopped after 2,000 events of a kind: narrow it with --exposed-since, or query a trail',
            ]
          : []),
        // CloudTrail delivers an event within about 15 minutes of the call.
        'reads in the last 15 minutes may not be listed yet',
      ];
      out.push({
        place,
        since: from.toISOString(),
        until: opts.until.toISOString(),
        reads: found.reads,
        note: notes.join('; '),
      });
    } catch (err) {
      out.push({ place, unavailable: `CloudTrail could not be read: ${errorText(err)}` });
    }
  }
  return out;
}

/** When `version` (the value the response replaced; the current one without it) was written. */
async function writtenAt(store: string, cfg: AwsSsmConfig, name: string, version?: string): Promise<Date> {
  const ssm = new SsmStore(store, cfg);
  const versions = await ssm.listVersions(name);
  const v = versions.find((x) => x.version === version) ?? versions.at(-1);
  // A value put back after a failed rotation has been exposed since the version it restored.
  const origin = versions.find((x) => x.version === v?.tags.restoredFrom) ?? v;
  return new Date(origin?.createdOn ?? 0);
}
