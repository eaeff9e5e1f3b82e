// An event as text for people (a mail body; Slack's sections are made from the same parts).
import { eventHeadline, type RekeyEvent } from '../shared/notify-events';

/** The event's parts, each a few lines of plain text: what Slack and mail both show. */
export function eventParts(e: RekeyEvent): { headline: string; about: string; body: string[] } {
  const about = `${e.workflowType} ${e.workflowId} (environments: ${e.environments.join(', ')})`;
  const body: string[] = [];
  if (e.gate) {
    const g = e.gate;
    body.push(
      `Plan:\n${g.plan}`,
      [
        `Plan digest: ${g.digest}`,
        `Approvers: ${g.approvers.join(', ')} (${g.required} needed; ${g.signed ? 'each decision signed with the approver’s SSH key' : 'named'})`,
        `Until: ${g.timeoutAt}`,
        `Decide: ${g.command}${g.signed ? ' (signs with ssh-agent, or --key FILE)' : ''}`,
      ].join('\n'),
    );
  }
  if (e.supply)
    body.push(
      [
        `Issue a new value at: ${e.supply.issuer}`,
        `Hand it over: ${e.supply.command} (reads it from standard input; it goes to ${e.supply.location} and never through Temporal)`,
        `Until: ${e.supply.until}`,
      ].join('\n'),
    );
  if (e.decision)
    body.push(
      `${e.decision.decision} by ${e.decision.by}; the gate is now ${e.decision.outcome}${e.decision.comment ? `\nComment: ${e.decision.comment}` : ''}`,
    );
  if (e.failure) body.push(`Why: ${e.failure}`);
  if (e.skipped) body.push(`Why: ${e.skipped}`);
  if (e.schedule)
    body.push(
      `Started by schedule ${e.schedule.id}${e.schedule.consecutiveFailures ? `: its last ${e.schedule.consecutiveFailures} runs failed (rekey schedule describe ${e.schedule.id})` : ''}`,
    );
  if (e.secret)
    body.push(
      [
        `Location: ${e.secret.location}`,
        `Last changed: ${e.secret.changed}`,
        `Due: ${e.secret.due}`,
        `Rotate: rekey secret rotate ${e.secret.name} --env ${e.secret.environment}`,
      ].join('\n'),
    );
  if (e.freezeOverride) body.push(`Started through a freeze: ${e.freezeOverride}`);
  if (e.steps?.length)
    body.push(
      `Steps:\n${e.steps.map((s) => `- ${s.name}: ${s.status}${s.detail ? ` (${s.detail})` : ''}`).join('\n')}`,
    );
  if (e.url) body.push(`In the Web UI: ${e.url}`);
  return { headline: eventHeadline(e), about, body };
}

/** The mail: subject and plain-text body. */
export function mailText(e: RekeyEvent): { subject: string; text: string } {
  const { headline, about, body } = eventParts(e);
  return {
    subject: `[rekey] ${headline}`,
    text: [about, ...body, `Event ${e.id} at ${e.time}`].join('\n\n'),
  };
}
