// The incident record of a compromise response (rekey respond): what was rotated (places and
// versions, never values), when, who approved, and what could not be rotated or revoked. Written
// as JSON (for tools) and Markdown (for the postmortem); each run's own part is also its
// workflow result.
import type { ParameterRead } from '../stores/aws-ssm/cloudtrail';
import type { RotateSecretResult } from '../workflows/rotate-secret';

export interface IncidentEntry {
  secret: string;
  workflowId: string;
  /** rotated: the new value everywhere; failed: every place put back (or RestoreFailed says
   * what was not); refused: not started, or refused before any change (busy, bad input). */
  status: 'rotated' | 'failed' | 'refused';
  places?: { place: string; from: string; to: string }[];
  /** The old value was revoked (or, for a key list, dropped). */
  revoked?: boolean;
  notRevoked?: string;
  approvedBy?: string[];
  /** A value issued by hand: who confirmed the old one revoked at its issuer. */
  revokeConfirmedBy?: string[];
  startedAt?: string;
  finishedAt?: string;
  problem?: string;
  /** Who read the secret while it was exposed, per location (client/exposure.ts): the reads its
   * store's access log records in the window, or why none could be looked up. */
  reads?: {
    place: string;
    since?: string;
    until?: string;
    reads?: ParameterRead[];
    note?: string;
    unavailable?: string;
  }[];
}

export interface IncidentRecord {
  incident: string;
  environment: string;
  reason: string;
  startedBy: string;
  startedAt: string;
  finishedAt: string;
  /** Every secret rotated and its old value revoked or dropped. */
  contained: boolean;
  secrets: IncidentEntry[];
}

/** The entry of a run that ended with `result`. */
export function rotatedEntry(secret: string, workflowId: string, r: RotateSecretResult): IncidentEntry {
  return {
    secret,
    workflowId,
    status: 'rotated',
    places: r.plan.locations.map((l, i) => ({
      place: `${l.store}:${l.name}`,
      from: l.current,
      to: r.written[i] ?? '?',
    })),
    // A key list's old keys are dropped rather than revoked.
    revoked: r.revoked || Boolean(r.plan.keyring),
    ...(r.notRevoked ? { notRevoked: r.notRevoked } : {}),
    approvedBy: r.approvedBy,
    ...(r.revokeConfirmedBy ? { revokeConfirmedBy: r.revokeConfirmedBy } : {}),
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}

/** Whether the entry leaves nothing exposed. */
const contained = (e: IncidentEntry) => e.status === 'rotated' && e.revoked !== false && !e.notRevoked;

export function incidentRecord(fields: Omit<IncidentRecord, 'contained'>): IncidentRecord {
  return { ...fields, contained: fields.secrets.every(contained) };
}

export function incidentMarkdown(r: IncidentRecord): string {
  const lines = [
    `# Incident ${r.incident}: secrets of ${r.environment} rotated`,
    '',
    `- Reason: ${r.reason}`,
    `- Started by: ${r.startedBy}`,
    `- Started: ${r.startedAt}; finished: ${r.finishedAt}`,
    `- Contained: ${r.contained ? 'yes, every secret rotated and its old value revoked' : '**NO**, see below'}`,
    '',
    '| secret | status | old value revoked | approved by | run |',
    '| --- | --- | --- | --- | --- |',
    ...r.secrets.map(
      (e) =>
        `| ${e.secret} | ${e.status} | ${e.notRevoked ? '**no**' : e.revoked === undefined ? '-' : e.revoked ? (e.revokeConfirmedBy ? `yes (confirmed by ${e.revokeConfirmedBy.join(', ')})` : 'yes') : 'no revoke configured'} | ${e.approvedBy?.join(', ') || '-'} | ${e.workflowId} |`,
    ),
    '',
    '## Places (versions, never values)',
    '',
    ...r.secrets.flatMap((e) =>
      (e.places ?? []).map((p) => `- ${e.secret}: ${p.place} ${p.from} -> ${p.to}`),
    ),
  ];
  const looked = r.secrets.filter((e) => e.reads?.length);
  if (looked.length)
    lines.push(
      '',
      "## Who read them (the stores' access logs)",
      '',
      ...looked.flatMap((e) =>
        (e.reads ?? []).flatMap((p) =>
          p.unavailable
            ? [`- ${e.secret}: ${p.place}: not looked up: ${p.unavailable}`]
            : [
                `- ${e.secret}: ${p.place}, ${p.since} to ${p.until}: ${p.reads?.length ?? 0} read(s)${p.note ? ` (${p.note})` : ''}`,
                ...(p.reads ?? []).map(
                  (x) =>
                    `  - ${x.at} ${x.event} by ${x.who}${x.accessKeyId ? ` (key ${x.accessKeyId})` : ''}${x.from ? ` from ${x.from}` : ''}${x.userAgent ? `, ${x.userAgent}` : ''}${x.error ? ` (refused: ${x.error})` : ''}`,
                ),
              ],
        ),
      ),
    );
  const open = r.secrets.filter((e) => !contained(e));
  if (open.length)
    lines.push(
      '',
      '## Not contained',
      '',
      ...open.map(
        (e) =>
          `- ${e.secret}: ${e.notRevoked ? `rotated, but the old value was NOT revoked: ${e.notRevoked}` : (e.problem ?? e.status)}`,
      ),
    );
  return `${lines.join('\n')}\n`;
}
