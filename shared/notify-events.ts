// What rekey tells people (notify: in rekey.yaml): the events a run emits, as the workflow builds
// them and every sink receives them. Pure: the workflows import it. An event carries what the Web
// UI already shows (plans, digests, step details, failure messages): never a value.

/** Every event type, in the order a run meets them. */
export const EVENT_TYPES = ['gate.opened', 'gate.decided', 'run.completed', 'run.failed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** What a run's worker routes: the event types some route takes for the run's environments. */
export interface NotifyRouting {
  types: EventType[];
  environments: string[];
}

export interface RekeyEvent {
  /** Stable across redeliveries (the workflow id, its run and the event's place in the run): a
   * receiver handles an id once. */
  id: string;
  type: EventType;
  /** When the run emitted it (the workflow clock), ISO. */
  time: string;
  namespace: string;
  workflowType: string;
  workflowId: string;
  runId: string;
  /** What the run does, as the Web UI's current details head it. */
  title: string;
  /** The environments the run changes: what routes match on. */
  environments: string[];
  /** The freeze the run was started through, and its starter's reason (config/freezes.ts). */
  freezeOverride?: string;
  /** A link to the run in the Temporal Web UI, when notify.webUi is set (filled in by the worker). */
  url?: string;
  gate?: {
    name: string;
    kind: 'approval' | 'expedite';
    /** The plan shown at the gate, which the digest binds. */
    plan: string;
    digest: string;
    approvers: string[];
    required: number;
    signed: boolean;
    timeoutAt: string;
    /** The command that decides it from a terminal. */
    command: string;
  };
  decision?: {
    decision: 'approve' | 'reject' | 'expedite';
    by: string;
    comment?: string;
    /** Where the gate stands after it. */
    outcome: 'passed' | 'rejected' | 'waiting';
  };
  /** run.failed: why, and how each step ended (what was put back, what was not). */
  failure?: string;
  steps?: { name: string; status: string; detail?: string }[];
}

/** One line saying what happened, for a chat message or a mail subject. */
export function eventHeadline(e: RekeyEvent): string {
  switch (e.type) {
    case 'gate.opened':
      return `${e.gate?.kind === 'expedite' ? 'May be ended early' : 'Approval needed'}: ${e.title} (${e.gate?.name})`;
    case 'gate.decided':
      return `${e.decision?.decision} by ${e.decision?.by} (${e.decision?.outcome}): ${e.title}`;
    case 'run.completed':
      return `Completed: ${e.title}`;
    case 'run.failed':
      return `FAILED: ${e.title}`;
  }
}
