// What rekey tells people (notify: in rekey.yaml): the events a run emits, as the workflow builds
// them and every sink receives them. Pure: the workflows import it. An event carries what the Web
// UI already shows (plans, digests, step details, failure messages): never a value.

/** Every event type, in the order a run meets them. */
export const EVENT_TYPES = [
  'gate.opened',
  /** A run waits for a value a person issues elsewhere (generator: manual). */
  'secret.wanted',
  'gate.decided',
  'run.completed',
  'run.failed',
  /** A scheduled run started outside its window, told to skip it (config/windows.ts). */
  'schedule.skipped',
  /** A scheduled run failed, and so did the one before it (at least). */
  'schedule.failing',
  /** A secret falls due within notify.dueSoon (the daily secret watch, `secret-watch`). */
  'secret.due',
  /** A secret is past its rotateEvery. */
  'secret.overdue',
] as const;
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
  /** run.failed, schedule.failing: why, and how each step ended (what was put back, what was not). */
  failure?: string;
  /** schedule.skipped: why nothing was done. */
  skipped?: string;
  /** The schedule that started the run; schedule.failing: how many of its runs failed in a row,
   * this one included. */
  schedule?: { id: string; consecutiveFailures?: number };
  /** secret.wanted: where the value is issued, where it goes, how to hand it over, until when. */
  supply?: { issuer: string; location: string; until: string; command: string };
  /** secret.due, secret.overdue: the secret in one environment (its first location's state). */
  secret?: { name: string; environment: string; location: string; changed: string; due: string };
  steps?: { name: string; status: string; detail?: string }[];
}

/** One line saying what happened, for a chat message or a mail subject. */
export function eventHeadline(e: RekeyEvent): string {
  switch (e.type) {
    case 'gate.opened':
      return `${e.gate?.kind === 'expedite' ? 'May be ended early' : 'Approval needed'}: ${e.title} (${e.gate?.name})`;
    case 'secret.wanted':
      return `Value wanted: ${e.title} (issue it at ${e.supply?.issuer})`;
    case 'gate.decided':
      return `${e.decision?.decision} by ${e.decision?.by} (${e.decision?.outcome}): ${e.title}`;
    case 'run.completed':
      return `Completed: ${e.title}`;
    case 'run.failed':
      return `FAILED: ${e.title}`;
    case 'schedule.skipped':
      return `Skipped (outside its window): ${e.title}`;
    case 'schedule.failing':
      return `FAILING ${e.schedule?.consecutiveFailures} times in a row: schedule ${e.schedule?.id}`;
    case 'secret.due':
      return `Due ${e.secret?.due.slice(0, 10)}: secret ${e.secret?.name} in ${e.secret?.environment}`;
    case 'secret.overdue':
      return `OVERDUE since ${e.secret?.due.slice(0, 10)}: secret ${e.secret?.name} in ${e.secret?.environment}`;
  }
}
