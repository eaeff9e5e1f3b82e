// What `rekey worker --metrics ADDR` exports besides the Temporal SDK's own metrics and the
// counters the workflows and activities keep (runs, steps, notification failures): gauges of
// what is waiting, read now and then from Temporal and the stores, so they are right after a
// worker restart too:
//   rekey_gates_pending                    runs of this task queue waiting at a gate
//   rekey_gate_waiting_seconds{workflow_id,gate}, rekey_gate_timeout_seconds{...}
//                                          each pending gate's wait so far and its timeout
//                                          (both 0 once it is decided: the alert then clears)
//   rekey_secret_changed_timestamp_seconds{secret,environment},
//   rekey_secret_due_timestamp_seconds{...}
//                                          when each recipe's current value was written and when
//                                          it falls due (timestamps: an alert on time() still
//                                          fires when a store stops answering)
//   rekey_collect_failures{what}           reads that failed (a store, Temporal)
// A decided gate's series stay, at 0, until the worker restarts: one pair per gated run.
import type { Client } from '@temporalio/client';
import type { MetricMeter } from '@temporalio/common';
import type { Config } from '../config/schema';
import { typesThat } from '../shared/workflow-types';
import { secretStates } from '../stores/secret-states';
import { progressQuery } from '../workflows/messages';

export interface CollectorOptions {
  client: Client;
  config: Config;
  taskQueue: string;
  meter: MetricMeter;
  /** How often gates are read (secrets: every tenth time). */
  everyMs?: number;
}

/** Starts collecting; the returned function stops it. */
export function startCollector(opts: CollectorOptions): () => void {
  const { client, config, meter } = opts;
  const pending = meter.createGauge('rekey_gates_pending', 'int', '1', 'rekey runs waiting at a gate');
  const waiting = meter.createGauge('rekey_gate_waiting_seconds', 'float', 's', 'How long a gate has waited');
  const timeout = meter.createGauge('rekey_gate_timeout_seconds', 'float', 's', 'A pending gate’s timeout');
  const changed = meter.createGauge(
    'rekey_secret_changed_timestamp_seconds',
    'float',
    's',
    'When a secret’s current value was written (Unix time)',
  );
  const due = meter.createGauge(
    'rekey_secret_due_timestamp_seconds',
    'float',
    's',
    'When a secret falls due (Unix time)',
  );
  const failures = meter.createCounter('rekey_collect_failures', '1', 'Reads for these metrics that failed');
  const gated = [...typesThat('gates')];
  let shown = new Map<string, Record<string, string>>();

  async function gates(): Promise<void> {
    const query = `ExecutionStatus = "Running" AND TaskQueue = "${opts.taskQueue}" AND WorkflowType IN (${gated.map((t) => `"${t}"`).join(', ')})`;
    const now = new Map<string, Record<string, string>>();
    let count = 0;
    for await (const run of client.workflow.list({ query })) {
      const progress = await client.workflow
        .getHandle(run.workflowId, run.runId)
        .query(progressQuery)
        .catch(() => undefined);
      const gate = progress?.pendingGate;
      // A rollover's wait that may be ended early runs its full length by design: not a gate.
      if (!gate || gate.kind === 'expedite') continue;
      count++;
      const labels = { workflow_id: run.workflowId, gate: gate.name };
      const since = Date.parse(gate.since);
      waiting.set((Date.now() - since) / 1000, labels);
      timeout.set((Date.parse(gate.timeoutAt) - since) / 1000, labels);
      now.set(`${run.workflowId}\n${gate.name}`, labels);
    }
    // A gate decided since the last look: its series read 0 (a gauge cannot be withdrawn).
    for (const [key, labels] of shown)
      if (!now.has(key)) {
        waiting.set(0, labels);
        timeout.set(0, labels);
      }
    shown = now;
    pending.set(count);
  }

  async function secrets(): Promise<void> {
    for (const s of await secretStates(config)) {
      if (s.unreadable) failures.add(1, { what: 'secrets' });
      if (!s.changed) continue;
      const labels = { secret: s.secret, environment: s.env };
      changed.set(Date.parse(s.changed) / 1000, labels);
      if (s.due) due.set(Date.parse(s.due) / 1000, labels);
    }
  }

  let round = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    await gates().catch(() => failures.add(1, { what: 'gates' }));
    if (round++ % 10 === 0 && Object.keys(config.secrets).length)
      await secrets().catch(() => failures.add(1, { what: 'secrets' }));
    if (!stopped) timer = setTimeout(tick, opts.everyMs ?? 15_000);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
