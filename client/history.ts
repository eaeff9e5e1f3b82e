// The audit trail: every rekey run in a window, read from Temporal (visibility lists the runs, each
// run's history holds its request, its decisions and its outcome), as records a person reads or a
// SIEM ingests. Nothing here needs a worker: closed runs are read from their histories, not asked.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import { signerOf } from '../shared/sshsig';
import { typesThat } from '../shared/workflow-types';
import type { HopResult } from '../workflows/promote-hop';
import type { RolloverResult } from '../workflows/rollover';
import type { RotateResult } from '../workflows/rotate';
import type { RotateSecretResult } from '../workflows/rotate-secret';

/** One run, as the audit trail shows it. */
export interface RunRecord {
  workflowId: string;
  runId: string;
  type: string;
  /** RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT. */
  status: string;
  started: string;
  closed?: string;
  /** What the run was asked to change. */
  environments: string[];
  secret?: string;
  keyring?: string;
  dryRun: boolean;
  /** Who started it (--as), and the fingerprint of the key that signed the request. */
  requestedBy?: { name: string; signer?: string };
  /** The decisions taken at its gates, in order, with the fingerprint of each signing key. */
  decisions: {
    decision: string;
    by: string;
    at: string;
    digest?: string;
    signer?: string;
    comment?: string;
  }[];
  /** What changed (or was put back), in words; absent while running. */
  changes: string[];
  /** Why it failed, for a failed run. */
  failure?: string;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payloads = temporal.api.common.v1.IPayloads | null | undefined;

/** Every run that reports progress: the hops of a promotion too (their gates and copies are theirs). */
const REKEY_RUNS = typesThat('progress');

/** The runs started since `since` (newest first), `env` among what they change when given. */
export async function runHistory(client: Client, opts: { since: Date; env?: string }): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  const query = `StartTime >= "${opts.since.toISOString()}"`;
  for await (const info of client.workflow.list({ query })) {
    if (!REKEY_RUNS.has(info.type)) continue;
    const record = await recordOf(client, info);
    if (opts.env && !record.environments.includes(opts.env)) continue;
    out.push(record);
  }
  return out.sort((a, b) => b.started.localeCompare(a.started));
}

async function recordOf(client: Client, info: WorkflowExecutionInfo): Promise<RunRecord> {
  const converter = client.workflow.options.loadedDataConverter;
  const decode = <T>(p: Payloads): Promise<T | undefined> =>
    p?.payloads?.length ? decodeFromPayloadsAtIndex<T>(converter, 0, p.payloads) : Promise.resolve(undefined);
  const history = await client.workflow.getHandle(info.workflowId, info.runId).fetchHistory();
  const events: HistoryEvent[] = history.events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  const input = ((await decode<Record<string, unknown>>(started?.input)) ?? {}) as {
    environments?: string[];
    environment?: string;
    secret?: string;
    keyring?: string;
    chain?: string[];
    from?: string;
    to?: string;
    dryRun?: boolean;
    requestedBy?: { name: string; signature?: string };
  };
  const decisions: RunRecord['decisions'] = [];
  for (const e of events) {
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    if (!accepted?.name || !['approve', 'reject', 'expedite'].includes(accepted.name)) continue;
    const d = await decode<{ by: string; digest?: string; signature?: string; comment?: string }>(
      accepted.args,
    );
    if (!d) continue;
    const signer = d.signature ? signerOf(d.signature) : undefined;
    decisions.push({
      decision: accepted.name,
      by: d.by,
      at: eventTime(e),
      ...(d.digest ? { digest: d.digest } : {}),
      ...(signer ? { signer } : {}),
      ...(d.comment ? { comment: d.comment } : {}),
    });
  }
  const last = events.at(-1);
  const result = await decode<unknown>(last?.workflowExecutionCompletedEventAttributes?.result);
  const failure = last?.workflowExecutionFailedEventAttributes?.failure?.message ?? undefined;
  const requester = input.requestedBy;
  const signer = requester?.signature ? signerOf(requester.signature) : undefined;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    status: info.status.name,
    started: info.startTime.toISOString(),
    ...(info.closeTime ? { closed: info.closeTime.toISOString() } : {}),
    environments:
      input.environments ??
      (input.environment
        ? [input.environment]
        : (input.chain ?? (input.from && input.to ? [input.from, input.to] : []))),
    ...(input.secret ? { secret: input.secret } : {}),
    ...(input.keyring ? { keyring: input.keyring } : {}),
    dryRun: input.dryRun === true,
    ...(requester ? { requestedBy: { name: requester.name, ...(signer ? { signer } : {}) } } : {}),
    decisions,
    changes: result === undefined ? [] : changesOf(info.type, result),
    ...(failure ? { failure } : {}),
  };
}

function eventTime(e: HistoryEvent): string {
  const t = e.eventTime;
  if (!t?.seconds) return '';
  return new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

/** What a completed run changed, in words, from its result (references and fingerprints only). */
function changesOf(type: string, result: unknown): string[] {
  switch (type) {
    case 'rotateJwtKeys': {
      const r = result as RotateResult;
      if (r.dryRun) return ['dry run: nothing changed'];
      return r.environments.map((e) =>
        e.status === 'rotated'
          ? `${e.env}: key ${e.fingerprintBefore ?? 'none'} -> ${e.fingerprintAfter}${e.identity ? `, token identity kept iss=${e.identity.iss} sub=${e.identity.sub}` : ''}`
          : e.status === 'rolled-back'
            ? `${e.env}: rolled back to ${e.fingerprintBefore ?? 'none'} (${e.reason})`
            : `${e.env}: ${e.status} (${e.reason})`,
      );
    }
    case 'rotateSecret': {
      const r = result as RotateSecretResult;
      if (r.dryRun) return ['dry run: nothing changed'];
      return [
        ...r.plan.locations.map(
          (l, i) => `${l.store}:${l.name}: ${l.current} -> ${r.written[i] ?? 'not written'}`,
        ),
        r.revoked ? 'old value revoked' : `old value not revoked${r.notRevoked ? ` (${r.notRevoked})` : ''}`,
      ];
    }
    case 'promote':
      return (result as HopResult[]).map(hopChange);
    case 'promoteHop':
      return [hopChange(result as HopResult)];
    case 'rolloverSigningKey': {
      const r = result as RolloverResult;
      if (r.dryRun) return ['dry run: nothing changed'];
      return [
        `keyring ${r.keyring}: added ${r.added ?? 'none'}, active ${r.active ?? r.before.active ?? 'none'}, removed ${r.removed ?? 'none'}`,
      ];
    }
    default:
      return [];
  }
}

const hopChange = (h: HopResult) =>
  h.dryRun
    ? `${h.from} -> ${h.to}: dry run: nothing changed`
    : `${h.from} -> ${h.to}: data copied (${h.copied?.bytes ?? 0} bytes, ${h.plan.delete} deleted)${h.identity ? `, token re-signed for sub=${h.identity.sub}` : ''}`;

/** A record on one line, for people. */
export function historyLine(r: RunRecord): string {
  const who = r.requestedBy
    ? ` by ${r.requestedBy.name}${r.requestedBy.signer ? ` (${r.requestedBy.signer})` : ''}`
    : '';
  const what = r.secret ?? r.keyring ?? r.environments.join(' -> ');
  const lines = [
    `${r.started} ${r.workflowId} ${r.type} ${what}${r.dryRun ? ' (dry run)' : ''}: ${r.status}${who}`,
  ];
  for (const d of r.decisions)
    lines.push(
      `  ${d.decision} by ${d.by}${d.signer ? ` (${d.signer})` : ''} at ${d.at}${d.comment ? `: ${d.comment}` : ''}`,
    );
  for (const c of r.changes) lines.push(`  ${c}`);
  if (r.failure) lines.push(`  failed: ${r.failure}`);
  return lines.join('\n');
}
