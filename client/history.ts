// The audit trail: every rekey run in a window, read from Temporal (visibility lists the runs, each
// run's history holds its request, its decisions and its outcome), as records a person reads or a
// SIEM ingests. Nothing here needs a worker: closed runs are read from their histories, not asked.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import {
  decodeFromPayloadsAtIndex,
  decodeOptionalFailureToOptionalError,
} from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import { keyringEnvironments } from '../config/approvals';
import type { Config } from '../config/schema';
import {
  APPROVAL_NAMESPACE,
  parseSshPublicKey,
  signerOf,
  sshFingerprint,
  verifySshSignature,
} from '../shared/sshsig';
import { typesThat } from '../shared/workflow-types';
import type { HopResult } from '../workflows/hop-plan';
import type { RolloverResult } from '../workflows/rollover';
import type { RotateResult } from '../workflows/rotate';
import type { RotateSecretResult } from '../workflows/rotate-secret';
import type { RotateSecretsResult } from '../workflows/rotate-secrets';

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
  /** Who started it (--as); `signer`: the request was signed with the key the config gives that
   * name (its fingerprint). */
  requestedBy?: { name: string; signer?: string };
  /** The decisions taken at its gates, in order; `signer`: the decision's signature verified here
   * against the key the config gives its approver (its fingerprint). */
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
  /** The reason its starter gave for going ahead through a freeze (--override-freeze). */
  freezeOverride?: string;
  /** Why a scheduled run outside its window changed nothing (it planned as a dry run). */
  skipped?: string;
  /** Why the run's history could not be read (gone with the namespace's retention, or sealed with
   * a codec key this config does not have): the record holds what visibility knows. */
  unreadable?: string;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payloads = temporal.api.common.v1.IPayloads | null | undefined;

/** Every run that reports progress: the hops of a promotion too (their gates and copies are theirs). */
const REKEY_RUNS = typesThat('changes');

/** The runs started since `since` (newest first), `env` among what they change when given. With
 * the config, signatures are checked against its approvers' keys. */
export async function runHistory(
  client: Client,
  opts: { since: Date; env?: string; config?: Config },
): Promise<RunRecord[]> {
  const types = [...REKEY_RUNS].map((t) => `'${t}'`).join(', ');
  const query = `StartTime >= "${opts.since.toISOString()}" AND WorkflowType IN (${types})`;
  const infos: WorkflowExecutionInfo[] = [];
  for await (const info of client.workflow.list({ query })) infos.push(info);
  // A few histories at a time: one round trip each.
  const out: RunRecord[] = [];
  for (let i = 0; i < infos.length; i += 8) {
    const batch = await Promise.all(
      infos
        .slice(i, i + 8)
        .map((info) =>
          recordOf(client, info, opts.config).catch(
            (err): RunRecord => ({ ...visible(info), unreadable: (err as Error).message }),
          ),
        ),
    );
    out.push(...batch.filter((r) => !opts.env || r.environments.includes(opts.env)));
  }
  return out.sort((a, b) => b.started.localeCompare(a.started));
}

/** What visibility knows of a run. */
function visible(info: WorkflowExecutionInfo): RunRecord {
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    status: info.status.name,
    started: info.startTime.toISOString(),
    ...(info.closeTime ? { closed: info.closeTime.toISOString() } : {}),
    environments: [],
    dryRun: false,
    decisions: [],
    changes: [],
  };
}

const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The fingerprint of `name`'s configured key when `signature` verifies with it over `message`
 * (a decision), or, with no message, when the signature's key is that key (a request). */
function signedBy(config: Config | undefined, name: string, signature: unknown, message?: string) {
  const line = config?.approvals.approvers[name];
  if (typeof signature !== 'string' || !line) return undefined;
  const key = parseSshPublicKey(line);
  if (message === undefined)
    return signerOf(signature) === sshFingerprint(key) ? sshFingerprint(key) : undefined;
  try {
    verifySshSignature(signature, key, APPROVAL_NAMESPACE, message);
    return sshFingerprint(key);
  } catch {
    return undefined;
  }
}

async function recordOf(client: Client, info: WorkflowExecutionInfo, config?: Config): Promise<RunRecord> {
  const converter = client.workflow.options.loadedDataConverter;
  const decode = <T>(p: Payloads): Promise<T | undefined> =>
    p?.payloads?.length ? decodeFromPayloadsAtIndex<T>(converter, 0, p.payloads) : Promise.resolve(undefined);
  const history = await client.workflow.getHandle(info.workflowId, info.runId).fetchHistory();
  const events: HistoryEvent[] = history.events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  // The input as recorded: a run started from the Web UI may hold anything (it fails, but it is
  // in the trail), so each field is taken only when it has the expected type.
  const raw = ((await decode<Record<string, unknown>>(started?.input)) ?? {}) as Record<string, unknown>;
  const req = (raw.requestedBy ?? {}) as Record<string, unknown>;
  const input = {
    environments: strings(raw.environments),
    environment: text(raw.environment),
    secret: text(raw.secret),
    keyring: text(raw.keyring),
    chain: strings(raw.chain),
    from: text(raw.from),
    to: text(raw.to),
    dryRun: raw.dryRun === true,
    overrideFreeze: text(raw.overrideFreeze),
    requestedBy: text(req.name) ? { name: req.name as string, signature: req.signature } : undefined,
  };
  const decisions: RunRecord['decisions'] = [];
  for (const e of events) {
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    if (!accepted?.name || !['approve', 'reject', 'expedite'].includes(accepted.name)) continue;
    const d = await decode<{ by: string; digest?: string; signature?: string; comment?: string }>(
      accepted.args,
    );
    if (!d) continue;
    const signer = d.digest ? signedBy(config, d.by, d.signature, `${accepted.name} ${d.digest}`) : undefined;
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
  const failure = await failureText(converter, last?.workflowExecutionFailedEventAttributes?.failure);
  const requester = input.requestedBy;
  const signer = requester ? signedBy(config, requester.name, requester.signature) : undefined;
  return {
    ...visible(info),
    environments:
      input.environments ??
      (input.environment
        ? [input.environment]
        : (input.chain ??
          (input.from && input.to
            ? [input.from, input.to]
            : // A keyring's run changes what the environments it serves read (as its gate counts them).
              input.keyring && config
              ? keyringEnvironments(config, input.keyring)
              : []))),
    ...(input.secret ? { secret: input.secret } : {}),
    ...(input.keyring ? { keyring: input.keyring } : {}),
    // A scheduled run outside its window that skipped ran as a dry run.
    dryRun: input.dryRun || (result as { dryRun?: unknown } | undefined)?.dryRun === true,
    ...(requester ? { requestedBy: { name: requester.name, ...(signer ? { signer } : {}) } } : {}),
    decisions,
    changes: result === undefined ? [] : changesOf(info.type, result),
    ...(failure ? { failure } : {}),
    ...(input.overrideFreeze ? { freezeOverride: input.overrideFreeze } : {}),
    ...(text((result as { skipped?: unknown } | undefined)?.skipped)
      ? { skipped: (result as { skipped: string }).skipped }
      : {}),
  };
}

/** A failure's message (rekey's failure converter seals it): the run's own, or the first cause's
 * past Temporal's wrappers ("Activity task failed"). */
async function failureText(
  converter: Client['workflow']['options']['loadedDataConverter'],
  failure: temporal.api.failure.v1.IFailure | null | undefined,
): Promise<string | undefined> {
  let err: (Error & { cause?: unknown }) | undefined = await decodeOptionalFailureToOptionalError(
    converter,
    failure ?? undefined,
  );
  const parts: string[] = [];
  while (err) {
    if (err.message && !parts.includes(err.message)) parts.push(err.message);
    err = err.cause instanceof Error ? err.cause : undefined;
  }
  return parts.find((m) => !/^(Activity task|Child Workflow execution|Workflow execution) failed$/.test(m));
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
    case 'rotateSecrets': {
      const r = result as RotateSecretsResult;
      if (r.dryRun) return ['dry run: nothing changed'];
      if (!r.plan.secrets.length) return [`nothing ${r.plan.select === 'due' ? 'due' : 'to rotate'}`];
      return r.plan.secrets.flatMap((p) => [
        ...p.locations.map(
          (l, i) =>
            `${p.secret}: ${l.store}:${l.name}: ${l.current} -> ${r.written[p.secret]?.[i] ?? 'not written'}`,
        ),
        ...(r.revoked.includes(p.secret) ? [`${p.secret}: old value revoked`] : []),
      ]);
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
    : `${h.from} -> ${h.to}: ${h.copied ? `data copied (${h.copied.bytes} bytes, ${h.plan.delete} deleted)` : 'nothing to copy'}${h.identity ? `, token re-signed for sub=${h.identity.sub}` : ''}`;

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
  if (r.freezeOverride) lines.push(`  through a freeze: ${r.freezeOverride}`);
  if (r.skipped) lines.push(`  ${r.skipped}`);
  for (const c of r.changes) lines.push(`  ${c}`);
  if (r.failure) lines.push(`  failed: ${r.failure}`);
  return lines.join('\n');
}
