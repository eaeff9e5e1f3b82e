// rekey respond: a compromise response. Every named secret (or every secret of the environment)
// rotated now, old values revoked (a key list's old keys dropped at once, no overlap), and an
// incident record written as JSON and Markdown.
import { mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { errorText } from '../../workflows/errors';
import type { RotateSecretResult } from '../../workflows/rotate-secret';
import { CliError } from '../cli-error';
import { readsOf } from '../exposure';
import { type IncidentEntry, incidentMarkdown, incidentRecord, rotatedEntry } from '../incident';
import { decideHint, withClient } from '../runs/common';
import { openedGate } from '../runs/gates';
import { checkSecret, startSecretRotation } from '../runs/secret';
import {
  type Command,
  confirmStart,
  freezeOverride,
  loadCliConfig,
  type Options,
  parse,
  requester,
  START_OPTIONS,
} from './common';
import { supplyNote } from './secret';

const OPTIONS = {
  'dry-run': START_OPTIONS['dry-run'],
  yes: START_OPTIONS.yes,
  as: START_OPTIONS.as,
  key: START_OPTIONS.key,
  'override-freeze': START_OPTIONS['override-freeze'],
  env: { type: 'string' },
  secret: { type: 'string', multiple: true },
  reason: { type: 'string' },
  out: { type: 'string' },
  'exposed-since': { type: 'string' },
} satisfies Options;

async function respond(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  if (!values.env) throw new CliError('respond needs --env E (the environment whose secrets are exposed)');
  const env = values.env;
  const config = loadCliConfig(values.config);
  if (!(env in config.environments)) throw new CliError(`unknown environment "${env}"`);
  const secrets =
    values.secret ?? Object.keys(config.secrets).filter((s) => config.secrets[s]?.environments.includes(env));
  if (!secrets.length) throw new CliError(`no secret recipe is rotated in ${env} (secrets: in rekey.yaml)`);
  for (const s of secrets) checkSecret(config, s, env);
  const dryRun = values['dry-run'];
  const gated = confirmStart(
    values,
    config,
    [[env]],
    `respond rotates ${secrets.join(', ')} in ${env} now and revokes the old values: pass --yes, or preview with --dry-run`,
  );
  const exposedSince = values['exposed-since'] ? new Date(values['exposed-since']) : undefined;
  if (exposedSince && Number.isNaN(exposedSince.getTime()))
    throw new CliError(
      `--exposed-since: not a date: "${values['exposed-since']}" (use 2026-12-01 or 2026-12-01T09:00:00Z)`,
    );
  if (exposedSince && exposedSince.getTime() > Date.now())
    throw new CliError(
      `--exposed-since ${values['exposed-since']} is in the future: give when the exposure may have begun`,
    );
  const reason = values.reason ?? 'compromise response';
  const startedAt = new Date().toISOString();
  return withClient(
    async (client) => {
      const one = async (secret: string): Promise<IncidentEntry> => {
        let handle: Awaited<ReturnType<typeof startSecretRotation>>;
        try {
          handle = await startSecretRotation(
            client,
            config,
            { secret, environment: env, dryRun, compromised: true, reason, ...freezeOverride(values) },
            { as: requester(values) },
          );
        } catch (err) {
          console.log(`not started: ${secret}: ${errorText(err)}`);
          return { secret, workflowId: '-', status: 'refused', problem: errorText(err) };
        }
        console.log(`started ${handle.workflowId}${dryRun ? ' (dry run)' : ''}`);
        const note = dryRun ? undefined : supplyNote(config, secret, env);
        if (note) console.log(`  ${note}`);
        if (gated && !dryRun) {
          const opened = await openedGate(client, handle.workflowId);
          if (opened) console.log(`  waiting for approval: ${decideHint(handle.workflowId, opened.gate)}`);
        }
        try {
          const r: RotateSecretResult = await handle.result();
          if (dryRun) console.log(r.plan.text.join('\n'));
          else console.log(`done: ${secret}${r.notRevoked ? ' (old value NOT revoked)' : ''}`);
          return rotatedEntry(secret, handle.workflowId, r);
        } catch (err) {
          const cause = err instanceof WorkflowFailedError && err.cause ? err.cause : err;
          console.log(`failed: ${secret}: ${errorText(cause)}`);
          const refused = ['EnvironmentBusy', 'BadInput', 'NotApproved'].includes(
            String((cause as { type?: string }).type),
          );
          return {
            secret,
            workflowId: handle.workflowId,
            status: refused ? 'refused' : 'failed',
            problem: errorText(cause),
          };
        }
      };
      // Secrets without consumers hold only their own lock: side by side. The others restart
      // services of the environment, which one run at a time may do: one after another.
      const restarting = secrets.filter((s) => config.secrets[s]?.consumers.length);
      const sequence = async () => {
        const done: IncidentEntry[] = [];
        for (const s of restarting) done.push(await one(s));
        return done;
      };
      const [alone, inTurn] = await Promise.all([
        Promise.all(secrets.filter((s) => !restarting.includes(s)).map(one)),
        sequence(),
      ]);
      const entries = secrets.map((s) => [...alone, ...inTurn].find((e) => e.secret === s) as IncidentEntry);
      if (dryRun) {
        console.log('dry run: nothing was changed, no incident record written');
        return entries.every((e) => e.status === 'rotated') ? 0 : 1;
      }
      const finishedAt = new Date().toISOString();
      const record = incidentRecord({
        incident: `${env}-${startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`,
        environment: env,
        reason,
        startedBy: values.as ?? userInfo().username,
        startedAt,
        finishedAt,
        secrets: entries,
      });
      const dir = resolve(values.out ?? '.');
      mkdirSync(dir, { recursive: true });
      const base = join(dir, `incident-${record.incident}`);
      const write = () => {
        writeFileSync(`${base}.json`, `${JSON.stringify(record, null, 2)}\n`);
        writeFileSync(`${base}.md`, incidentMarkdown(record));
      };
      // Written first: the lookups below may take minutes (CloudTrail answers two a second), and
      // the record of what was rotated must not wait on them.
      write();
      console.log(`incident record: ${base}.json, ${base}.md`);
      // Who read each secret while it was exposed (from --exposed-since, or the replaced value's
      // writing), where its store logs reads; the record is written again with them.
      console.log("looking up who read the secrets while exposed (the stores' access logs)");
      for (const e of entries)
        e.reads = await readsOf(config, env, e, {
          until: new Date(finishedAt),
          ...(exposedSince ? { exposedSince } : {}),
        });
      write();
      console.log(
        record.contained
          ? 'contained: every secret rotated, old values revoked'
          : 'NOT contained: see the record',
      );
      return record.contained ? 0 : 1;
    },
    { needsWorker: true, config },
  );
}

export const command: Command = {
  usage: `rekey respond --env E [--secret NAME]... [--reason TEXT] [--exposed-since DATE] [--out DIR] [--dry-run]
              [--as NAME [--key FILE]] [--yes] [--override-freeze REASON] [--config F]

A compromise response: rotates now every secret NAME given (default: every secret recipe of
environment E), one run each: side by side, except those that restart services, which go one
after another (one run at a time restarts an environment's services). Unlike a scheduled rotation, a key list's old keys
are dropped at once (no overlap: whatever they sealed stops opening), and an old value that
cannot be revoked does not stop the response: it is recorded. Approvals still apply where E
requires them. Waits for every run, then writes an incident record (what was rotated, the
versions at each place, when, who approved, what could not be rotated or revoked; never a value)
to DIR (default: here) as incident-E-TIME.json and .md. The record also says who read each
secret while it was exposed, where its store logs reads: for SSM, CloudTrail's GetParameter(s)
calls naming the parameter (who, key, when, from where) since --exposed-since DATE (default: when
the replaced value was written; CloudTrail's history holds 90 days); for other stores, where
their logs are (Key Vault's diagnostic logs) or that there are none. During a freeze of E (freezes: in
rekey.yaml) it needs --override-freeze REASON, recorded in each run and its events.

Exit codes: 0 contained (every secret rotated, old values revoked); 1 not contained (see the
record); 2 bad input.

Examples:
  rekey respond --env prod --secret runner-token --reason "token printed in a CI log" --dry-run
  rekey respond --env prod --reason "laptop with prod access lost" --yes --out incidents/`,
  options: OPTIONS,
  run: respond,
};
