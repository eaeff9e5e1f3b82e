// The codec server the Temporal Web UI (and `temporal --codec-endpoint`) calls to show sealed
// payloads and to seal the inputs it sends: POST /decode and POST /encode with
// {"payloads": [{"metadata": {k: base64}, "data": base64}]}, CORS for the UI's origin, a bearer
// token, and nothing for a caller it does not know: another Origin, a Host it is not served as (a
// page that rebinds its own name to 127.0.0.1), a namespace not configured. It holds the codec
// keys; run it where only operators reach it.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';

/** A payload as the codec protocol carries it in JSON: metadata values and data in base64. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))]),
  ),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});

export const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [
      k,
      Buffer.from(v ?? new Uint8Array()).toString('base64'),
    ]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

export interface CodecServerOptions {
  /** Origins allowed to call it from a browser (the Web UI's, e.g. http://localhost:8080); a
   * request from any other origin is refused. */
  origins: string[];
  /** When set, every POST must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Host names it answers to (the Host header, port aside). Default: localhost, 127.0.0.1, ::1. */
  hosts?: string[];
  /** The namespaces whose payloads it opens and seals (the X-Namespace header); unset: any. */
  namespaces?: string[];
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** The host name of a Host header (`name:port`, `[v6]:port`). */
function hostName(header: string | undefined): string {
  const h = (header ?? '').trim().toLowerCase();
  const v6 = /^\[([^\]]+)\]/.exec(h);
  return v6 ? (v6[1] as string) : h.replace(/:\d+$/, '');
}

const MAX_BODY = 16 * 1024 * 1024;

export function codecServer(codec: PayloadCodec, opts: CodecServerOptions): Server {
  const allowed = (req: IncomingMessage) => {
    if (!opts.token) return true;
    const given = Buffer.from(req.headers.authorization ?? '');
    const want = Buffer.from(`Bearer ${opts.token}`);
    return given.length === want.length && timingSafeEqual(given, want);
  };
  const cors = (req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    if (origin && opts.origins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader(
        'Access-Control-Allow-Headers',
        'content-type, x-namespace, authorization, authorization-extras',
      );
      res.setHeader('Vary', 'Origin');
    }
  };
  const answer = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const hosts = (opts.hosts ?? LOOPBACK_NAMES).map((h) => h.toLowerCase());
  return createServer(async (req, res) => {
    // DNS rebinding: a page whose own name now points here sends that name as Host.
    if (!hosts.includes(hostName(req.headers.host)))
      return answer(res, 421, { error: `not served as ${hostName(req.headers.host) || '(no Host)'}` });
    const origin = req.headers.origin;
    if (origin !== undefined && !opts.origins.includes(origin))
      return answer(res, 403, { error: `origin ${origin} is not allowed` });
    cors(req, res);
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    // The endpoint may sit under a path of its own (https://host/codec/decode): the last segment counts.
    const last = new URL(req.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '').split('/').pop();
    const op = last === 'encode' || last === 'decode' ? last : undefined;
    if (req.method !== 'POST' || !op) return answer(res, 404, { error: 'POST /encode or /decode' });
    if (!allowed(req)) return answer(res, 401, { error: 'a bearer token is required' });
    const namespace = req.headers['x-namespace'];
    if (opts.namespaces && !opts.namespaces.includes(String(namespace ?? '')))
      return answer(res, 403, { error: `namespace ${namespace ?? '(none)'} is not served here` });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) {
        res.setHeader('Connection', 'close');
        return answer(res, 413, { error: 'body too large' });
      }
      chunks.push(chunk as Buffer);
    }
    let payloads: Payload[];
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payloads?: JsonPayload[] };
      if (!Array.isArray(body.payloads)) throw new Error('no "payloads" array');
      payloads = body.payloads.map(fromJson);
    } catch (err) {
      return answer(res, 400, { error: `bad request: ${(err as Error).message}` });
    }
    try {
      const out = await codec[op](payloads);
      return answer(res, 200, { payloads: out.map(toJson) });
    } catch (err) {
      // The codec's errors name keys by id, never key material.
      return answer(res, 422, { error: (err as Error).message });
    }
  });
}
