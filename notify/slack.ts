// An event as a Slack incoming-webhook message in Block Kit: a header, sections, a context line,
// and `text` as the notification's fallback. Slack's limits: a header's text 150 characters, a
// section's 3,000, 50 blocks.
import type { RekeyEvent } from '../shared/notify-events';
import { eventParts } from './text';

const cut = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/** mrkdwn's three special characters, escaped as Slack asks. */
const mrkdwn = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function slackMessage(e: RekeyEvent): { text: string; blocks: object[] } {
  const { headline, about, body } = eventParts(e);
  const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text: cut(text, 3000) } });
  const blocks: object[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(headline, 150), emoji: false } },
    ...body.map((part) =>
      part.startsWith('Plan:\n')
        ? section(`*Plan*\n\`\`\`${mrkdwn(part.slice(6))}\`\`\``)
        : section(mrkdwn(part)),
    ),
    { type: 'context', elements: [{ type: 'mrkdwn', text: cut(mrkdwn(about), 3000) }] },
  ];
  return { text: headline, blocks: blocks.slice(0, 50) };
}
