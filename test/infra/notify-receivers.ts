// Receivers for notify: sinks, as their real counterparts answer. A webhook receiver that checks
// each CloudEvent's signature and handles an event id once (a redelivery is answered 200 and not
// handled again), and can hold a request unanswered (a receiver slow to answer when the worker
// dies); Slack's incoming webhook (answers "ok"); and a real SMTP server (smtp-server).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SMTPServer } from 'smtp-server';

export interface Receipt {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface HookReceiver {
  /** Every request as it came, redeliveries included. */
  receipts: Receipt[];
  /** Each CloudEvent handled, once per id, in the order handled. */
  handled: Record<string, unknown>[];
  /** Requests whose signature did not verify (answered 401, not handled). */
  refused: Receipt[];
  /** Holds the next request whose CloudEvent type is `type` unanswered (it is handled). */
  holdNext(type: string): Promise<Receipt>;
  close(): Promise<void>;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((res, rej) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res(Buffer.concat(chunks).toString('utf8')));
    req.on('error', rej);
  });

export async function hookReceiver(port: number, key: string): Promise<HookReceiver> {
  const receipts: Receipt[] = [];
  const handled: Record<string, unknown>[] = [];
  const refused: Receipt[] = [];
  const seen = new Set<string>();
  let hold: { type: string; got: (r: Receipt) => void } | undefined;
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const receipt = { path: req.url ?? '', headers: req.headers, body: await readBody(req) };
    receipts.push(receipt);
    if (receipt.path.startsWith('/slack/')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const want = Buffer.from(`sha256=${createHmac('sha256', key).update(receipt.body).digest('hex')}`);
    const got = Buffer.from(String(req.headers['rekey-signature'] ?? ''));
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      refused.push(receipt);
      res.writeHead(401).end('bad signature');
      return;
    }
    const ce = JSON.parse(receipt.body) as Record<string, unknown>;
    // Handled once per id: a redelivery is acknowledged, not handled again.
    if (!seen.has(String(ce.id))) {
      seen.add(String(ce.id));
      handled.push(ce);
    }
    if (hold && ce.type === hold.type) {
      const h = hold;
      hold = undefined;
      h.got(receipt);
      return; // never answered: the sender's attempt times out or its process dies
    }
    res.writeHead(204).end();
  });
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  return {
    receipts,
    handled,
    refused,
    holdNext: (type) =>
      new Promise((got) => {
        hold = { type, got };
      }),
    close: () =>
      new Promise((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

export interface Mail {
  from: string;
  to: string[];
  /** The message as sent (headers and body, quoted-printable undone). */
  text: string;
}

export async function smtpReceiver(port: number): Promise<{ mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          text: raw
            .replace(/=\r?\n/g, '')
            .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
        });
        done();
      });
    },
  });
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  return { mails, close: () => new Promise((res) => server.close(() => res())) };
}
