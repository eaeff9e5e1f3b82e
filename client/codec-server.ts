// The codec server the Temporal Web UI (and `temporal --codec-endpoint`) calls to show sealed
// payloads and to seal the inputs it sends: POST /decode and POST /encode with
// {"payloads": [{"metadata": {k: base64}, "data": base64}]}, CORS for the UI's origin, and an
// optional bearer token. It holds the codec keys; run it where only operators reach it.
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
  /** Origins allowed to call it from a browser (the Web UI's, e.g. http://localhost:8080). */
  origins: string[];
  /** When set, every POST must carry `Authorization: Bearer <token>`. */
  token?: string;
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
  return createServer(async (req, res) => {
    cors(req, res);
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    // The endpoint may sit under a path of its own (https://host/codec/decode): the last segment counts.
    const last = new URL(req.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '').split('/').pop();
    const op = last === 'encode' || last === 'decode' ? last : undefined;
    if (req.method !== 'POST' || !op) return answer(res, 404, { error: 'POST /encode or /decode' });
    if (!allowed(req)) return answer(res, 401, { error: 'a bearer token is required' });
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
