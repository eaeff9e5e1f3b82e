// Hands one event to one sink, as its type wants it. Credentials are read here, on the worker,
// at each attempt: a key put in place after the worker started is used.
import type { NotifyConfig } from '../config/notify';
import { readSecretSource } from '../config/secret-source';
import type { RekeyEvent } from '../shared/notify-events';
import { sendMail } from './mail';
import { postJson } from './post';
import { slackMessage } from './slack';
import { signedCloudEvent } from './webhook';

/** What became of the event at `sink`: sent, or why nothing was sent (no recipients). */
export async function deliver(notify: NotifyConfig, sink: string, e: RekeyEvent): Promise<string> {
  const config = notify.sinks[sink];
  if (!config) throw new Error(`sink ${sink}: not in this worker's notify.sinks`);
  switch (config.type) {
    case 'webhook': {
      const key = readSecretSource(config.secret, `notify.sinks.${sink}.secret`);
      const { body, headers } = await signedCloudEvent(e, key);
      await postJson(sink, config.url, body, headers);
      return 'sent';
    }
    case 'slack': {
      const url = readSecretSource(config.url, `notify.sinks.${sink}.url`);
      await postJson(sink, url, JSON.stringify(slackMessage(e)), { 'content-type': 'application/json' });
      return 'sent';
    }
    case 'smtp': {
      // A gate's mail also goes to the approvers it names.
      const approvers = e.type === 'gate.opened' ? (e.gate?.approvers ?? []) : [];
      const to = [...new Set([...config.to, ...approvers.flatMap((a) => notify.addresses[a] ?? [])])];
      if (!to.length) return 'no recipients';
      await sendMail(sink, config, e, to);
      return `sent to ${to.length}`;
    }
  }
}
