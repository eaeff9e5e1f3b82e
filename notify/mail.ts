// An event as mail over SMTP (nodemailer): STARTTLS when offered (required with requireTls), TLS
// from the first byte with `secure`. Its Message-ID comes from the event id, so a redelivered
// mail is the same message to the receiving side.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SinkConfig } from '../config/notify';
import { readSecretSource } from '../config/secret-source';
import type { RekeyEvent } from '../shared/notify-events';
import { mailText } from './text';

type SmtpSink = Extract<SinkConfig, { type: 'smtp' }>;

export async function sendMail(name: string, sink: SmtpSink, e: RekeyEvent, to: string[]): Promise<void> {
  const { createTransport } = await import('nodemailer');
  const transport = createTransport({
    host: sink.host,
    port: sink.port,
    secure: sink.secure,
    requireTLS: sink.requireTls,
    connectionTimeout: 10_000,
    greetingTimeout: 5_000,
    socketTimeout: 10_000,
    ...(sink.caFile ? { tls: { ca: readFileSync(sink.caFile, 'utf8') } } : {}),
    ...(sink.user
      ? {
          auth: {
            user: sink.user,
            pass: sink.password ? readSecretSource(sink.password, `notify.sinks.${name}.password`) : '',
          },
        }
      : {}),
  });
  const { subject, text } = mailText(e);
  try {
    await transport.sendMail({
      from: sink.from,
      to,
      subject,
      text,
      messageId: `<${createHash('sha256').update(e.id).digest('hex').slice(0, 32)}@rekey>`,
      headers: { 'X-Rekey-Event': e.type },
    });
  } catch (err) {
    const code = (err as { code?: string; responseCode?: number }).code;
    throw new Error(
      `sink ${name}: SMTP ${sink.host}:${sink.port} refused the mail (${code ?? (err as Error).message})`,
    );
  } finally {
    transport.close();
  }
}
