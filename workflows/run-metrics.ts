// rekey's own metrics from the workflows, through the SDK's workflow metric meter (not emitted
// while a run is replayed; the SDK adds namespace, taskQueue and workflowType): runs started
// and how they ended, per environment, and how long each step took. Dry runs and rekey's helper
// workflows (locks, deliveries) are not counted.
import { metricMeter } from '@temporalio/workflow';
import { typesThat } from '../shared/workflow-types';

const COUNTED = typesThat('progress');

/** The environments a run names in its input, as one label ("prod,test"; a keyring's name). */
export function environmentsLabel(input: unknown): string {
  const i = (input ?? {}) as Record<string, unknown>;
  const list = [i.environments, i.chain, i.environment, i.to, i.keyring].find(
    (v) => (Array.isArray(v) && v.length) || typeof v === 'string',
  );
  return Array.isArray(list) ? list.map(String).join(',') : typeof list === 'string' ? list : '';
}

export function countRun(
  workflowType: string,
  input: unknown,
  outcome: 'started' | 'completed' | 'failed',
): void {
  const i = (input ?? {}) as Record<string, unknown>;
  if (!COUNTED.has(workflowType) || i.dryRun === true) return;
  metricMeter
    .createCounter(`rekey_runs_${outcome}`, '1', `rekey runs ${outcome}, per workflow type and environments`)
    .add(1, { environments: environmentsLabel(input) });
}

/** A step's duration on the workflow clock, in seconds. */
export function stepDuration(step: string, seconds: number, status: string): void {
  metricMeter
    .createHistogram('rekey_step_duration', 'float', 's', 'How long each step of a rekey run took')
    .record(seconds, { step, status });
}
