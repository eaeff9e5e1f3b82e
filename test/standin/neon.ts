// Neon API STAND-IN for tests: no internet here, and Neon API keys are made by a person in the
// console (the runbook's NEON_API_KEY: "create replacement key in Neon console", then "revoke old
// key in Neon console"). Over HTTPS with the test CA it keeps what that rotation touches, with
// Neon's API shapes (https://api-docs.neon.tech/reference):
// - API keys, as the console makes them: POST /api/v2/api_keys {key_name} -> {id, key} ("napi_"
//   and 64 characters) and DELETE /api/v2/api_keys/{id} -> {id, name, revoked: true}; both need a
//   live key (the test's own, standing in for the person's console session).
// - GET /api/v2/projects with `Authorization: Bearer KEY`: 200 {projects: [...]} for a live key,
//   401 {code, message} otherwise (Neon's error shape).
// - GET /cp/provision-check: the control plane's test provision (create and delete a branch) with
//   the key it holds now (`held()`, its Fly secret): 200, or 503 when that key is not live.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface NeonStandin {
  url: string;
  /** A key made in the console: its id (to revoke it) and the key itself. */
  createKey(name: string): Promise<{ id: number; key: string }>;
  revokeKey(id: number): Promise<void>;
  live(key: string): boolean;
  close(): Promise<void>;
}

export async function startNeonStandin(
  tls: { key: string; cert: string },
  /** The key the control plane holds (its Fly secret NEON_API_KEY). */
  held: () => string | undefined,
): Promise<NeonStandin> {
  const keys = new Map<number, { name: string; key: string; revoked: boolean }>();
  let next = 165_400;
  const issue = (name: string) => {
    const id = next++;
    const key = `napi_${randomBytes(48).toString('base64url').slice(0, 64)}`;
    keys.set(id, { name, key, revoked: false });
    return { id, key };
  };
  const live = (key: string) => [...keys.values()].some((k) => k.key === key && !k.revoked);
  const console = issue('console session');

  const server: Server = createServer(tls, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'https://console.neon.tech').pathname;
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET' && path === '/cp/provision-check') {
        const key = held();
        send(key && live(key) ? 200 : 503, { ok: Boolean(key && live(key)) });
        return;
      }
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !live(bearer)) {
        send(401, { code: '', message: 'authorization failed' });
        return;
      }
      if (req.method === 'GET' && path === '/api/v2/projects') {
        send(200, { projects: [{ id: 'cool-sea-89357706', name: 'molecule-cp' }] });
        return;
      }
      if (req.method === 'POST' && path === '/api/v2/api_keys') {
        let name = '';
        try {
          name = String(JSON.parse(Buffer.concat(chunks).toString()).key_name ?? '');
        } catch {}
        if (!name) {
          send(400, { code: 'BAD_REQUEST', message: 'key_name is required' });
          return;
        }
        send(200, issue(name));
        return;
      }
      const revoke = /^\/api\/v2\/api_keys\/(\d+)$/.exec(path);
      if (req.method === 'DELETE' && revoke) {
        const id = Number(revoke[1]);
        const k = keys.get(id);
        if (!k) {
          send(404, { code: 'NOT_FOUND', message: 'API key not found' });
          return;
        }
        k.revoked = true;
        send(200, { id, name: k.name, revoked: true });
        return;
      }
      send(404, { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${console.key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`Neon stand-in: ${method} ${path} -> ${res.status}`);
    return res.json();
  };
  return {
    url,
    createKey: async (name) =>
      (await call('POST', '/api/v2/api_keys', { key_name: name })) as { id: number; key: string },
    revokeKey: async (id) => {
      await call('DELETE', `/api/v2/api_keys/${id}`);
    },
    live,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
