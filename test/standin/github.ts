// GitHub REST API STAND-IN for tests: no internet here. It serves, over HTTPS with the test CA,
// the Actions secrets endpoints rekey calls, in their real shapes:
// - GET  /repos/{owner}/{repo}/actions/secrets/public-key -> {key_id, key}: a real Curve25519 key
//   pair held here; PUT /repos/{owner}/{repo}/actions/secrets/{name} {encrypted_value, key_id}
//   opens the libsodium sealed box with the private key (422 if it does not open or names another
//   key_id), 201 when created, 204 when updated; GET .../actions/secrets/{name} -> {name,
//   created_at, updated_at} or 404;
// - POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches -> 204 and a workflow run that
//   runs the job the test registered with the repository's decrypted secrets; GET
//   .../actions/runs?event=workflow_dispatch -> {total_count, workflow_runs: [{id, path, status,
//   conclusion}]}, newest first;
// - errors as GitHub sends them: 401 {"message": "Bad credentials"} for a missing or unknown
//   token, 404 {"message": "Not Found"}, and injectable faults such as a secondary rate limit
//   (403 with Retry-After).
// Run as a program (`node github.js publish-check FILE`), it is the test's stand-in for `gh
// workflow run FILE` followed by `gh run watch`: it dispatches the workflow, waits for the run and
// prints its conclusion (exit 0 on success).
import { randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import sodium from 'libsodium-wrappers';

interface Run {
  id: number;
  path: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: 'success' | 'failure' | null;
  created_at: string;
}

interface Repo {
  keyId: string;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  secrets: Map<string, { value: string; created_at: string; updated_at: string }>;
  runs: Run[];
  /** What a dispatched workflow does with the repository's secrets: true is success. */
  jobs: Map<string, (secrets: Record<string, string>) => Promise<boolean>>;
}

interface Fault {
  method: string;
  path: RegExp;
  status: number;
  headers: Record<string, string>;
  body: unknown;
  left: number;
}

export interface GitHubStandin {
  url: string;
  /** The token the stand-in accepts. */
  token: string;
  addRepo(fullName: string): void;
  /** A secret's value as the stand-in decrypted it (what a workflow run would see). */
  secret(fullName: string, name: string): string | undefined;
  /** Sets a secret as `gh secret set` would (the test's first value). */
  setSecret(fullName: string, name: string, value: string): void;
  onWorkflow(
    fullName: string,
    file: string,
    job: (secrets: Record<string, string>) => Promise<boolean>,
  ): void;
  /** The next `times` requests matching fail with this answer. */
  inject(
    method: string,
    path: RegExp,
    answer: { status: number; headers?: Record<string, string>; body: unknown },
    times?: number,
  ): void;
  /** Holds the next request matching until released; resolves when it arrives. */
  hold(method: string, path: RegExp): { arrived: Promise<void>; release(): void };
  /** Requests served, as "METHOD path status", and when (ms since the epoch). */
  log: string[];
  at: number[];
  /** Drops the faults not yet served. */
  clearFaults(): void;
  close(): Promise<void>;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export async function startGitHubStandin(tls: { key: string; cert: string }): Promise<GitHubStandin> {
  await sodium.ready;
  const token = `github_pat_${sodium.to_hex(sodium.randombytes_buf(16))}`;
  const repos = new Map<string, Repo>();
  const faults: Fault[] = [];
  const holds: { method: string; path: RegExp; arrived: () => void; released: Promise<void> }[] = [];
  const log: string[] = [];
  const at: number[] = [];
  let runIds = 1000;

  const server: Server = createServer(tls, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'https://api.github.com');
      const method = req.method ?? 'GET';
      const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
        log.push(`${method} ${url.pathname} ${status}`);
        at.push(Date.now());
        res.writeHead(status, {
          'content-type': 'application/json; charset=utf-8',
          'x-github-api-version-selected': '2022-11-28',
          ...headers,
        });
        res.end(body === undefined ? undefined : JSON.stringify(body));
      };
      const notFound = () =>
        send(404, {
          message: 'Not Found',
          documentation_url: 'https://docs.github.com/rest',
          status: '404',
        });
      const auth = String(req.headers.authorization ?? '');
      if (auth !== `Bearer ${token}` && auth !== `token ${token}`)
        return send(401, {
          message: 'Bad credentials',
          documentation_url: 'https://docs.github.com/rest',
          status: '401',
        });
      const held = holds.find((h) => h.method === method && h.path.test(url.pathname));
      if (held) {
        holds.splice(holds.indexOf(held), 1);
        held.arrived();
        await held.released;
      }
      const fault = faults.find((f) => f.method === method && f.path.test(url.pathname) && f.left > 0);
      if (fault) {
        fault.left--;
        return send(fault.status, fault.body, fault.headers);
      }
      const m = /^\/repos\/([^/]+\/[^/]+)\/actions\/(.+)$/.exec(url.pathname);
      const repo = m ? repos.get(m[1] as string) : undefined;
      if (!m || !repo) return notFound();
      const rest = m[2] as string;
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
      } catch {
        return send(400, {
          message: 'Problems parsing JSON',
          documentation_url: 'https://docs.github.com/rest',
        });
      }
      if (method === 'GET' && rest === 'secrets/public-key')
        return send(200, {
          key_id: repo.keyId,
          key: sodium.to_base64(repo.publicKey, sodium.base64_variants.ORIGINAL),
        });
      const secret = /^secrets\/([A-Za-z0-9_]+)$/.exec(rest)?.[1];
      if (secret && method === 'GET') {
        const s = repo.secrets.get(secret);
        return s
          ? send(200, { name: secret, created_at: s.created_at, updated_at: s.updated_at })
          : notFound();
      }
      if (secret && method === 'PUT') {
        if (body.key_id !== repo.keyId || typeof body.encrypted_value !== 'string')
          return send(422, {
            message: 'Invalid request.\n\nkey_id is not the repository public key id.',
            documentation_url: 'https://docs.github.com/rest',
          });
        let value: string;
        try {
          value = sodium.crypto_box_seal_open(
            sodium.from_base64(body.encrypted_value, sodium.base64_variants.ORIGINAL),
            repo.publicKey,
            repo.privateKey,
            'text',
          );
        } catch {
          return send(422, {
            message: 'Bad request: encrypted_value could not be decrypted with the repository key',
            documentation_url: 'https://docs.github.com/rest',
          });
        }
        const old = repo.secrets.get(secret);
        repo.secrets.set(secret, { value, created_at: old?.created_at ?? now(), updated_at: now() });
        return send(old ? 204 : 201, old ? undefined : {});
      }
      const dispatch = /^workflows\/([^/]+)\/dispatches$/.exec(rest)?.[1];
      if (dispatch && method === 'POST') {
        const job = repo.jobs.get(dispatch);
        if (!job) return notFound();
        const run: Run = {
          id: runIds++,
          path: `.github/workflows/${dispatch}`,
          status: 'queued',
          conclusion: null,
          created_at: now(),
        };
        repo.runs.unshift(run);
        setTimeout(async () => {
          run.status = 'in_progress';
          const secrets = Object.fromEntries([...repo.secrets].map(([k, v]) => [k, v.value]));
          const ok = await job(secrets).catch(() => false);
          run.status = 'completed';
          run.conclusion = ok ? 'success' : 'failure';
        }, 50);
        return send(204);
      }
      if (method === 'GET' && rest === 'runs')
        return send(200, { total_count: repo.runs.length, workflow_runs: repo.runs });
      return notFound();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    token,
    log,
    at,
    clearFaults: () => {
      faults.length = 0;
    },
    addRepo(fullName) {
      const pair = sodium.crypto_box_keypair();
      repos.set(fullName, {
        keyId: String(randomInt(10 ** 12, 10 ** 14)),
        publicKey: pair.publicKey,
        privateKey: pair.privateKey,
        secrets: new Map(),
        runs: [],
        jobs: new Map(),
      });
    },
    secret: (fullName, name) => repos.get(fullName)?.secrets.get(name)?.value,
    setSecret(fullName, name, value) {
      repos.get(fullName)?.secrets.set(name, { value, created_at: now(), updated_at: now() });
    },
    onWorkflow(fullName, file, job) {
      repos.get(fullName)?.jobs.set(file, job);
    },
    inject(method, path, answer, times = 1) {
      faults.push({
        method,
        path,
        status: answer.status,
        headers: answer.headers ?? {},
        body: answer.body,
        left: times,
      });
    },
    hold(method, path) {
      let arrived!: () => void;
      let release!: () => void;
      const arrivedP = new Promise<void>((r) => {
        arrived = r;
      });
      const released = new Promise<void>((r) => {
        release = r;
      });
      holds.push({ method, path, arrived, released });
      return { arrived: arrivedP, release };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** `gh workflow run FILE` + `gh run watch`, against the API at $GITHUB_API_URL for $GITHUB_REPOSITORY
 * with $GH_TOKEN: dispatches, waits for the run, prints its conclusion. */
async function publishCheck(file: string): Promise<number> {
  const api = `${process.env.GITHUB_API_URL}/repos/${process.env.GITHUB_REPOSITORY}/actions`;
  const headers = { authorization: `Bearer ${process.env.GH_TOKEN}`, accept: 'application/vnd.github+json' };
  const started = Date.now();
  const dispatched = await fetch(`${api}/workflows/${file}/dispatches`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ ref: 'main' }),
  });
  if (dispatched.status !== 204) {
    console.error(`dispatch: ${dispatched.status}`);
    return 1;
  }
  for (;;) {
    const { workflow_runs } = (await (
      await fetch(`${api}/runs?event=workflow_dispatch`, { headers })
    ).json()) as {
      workflow_runs: Run[];
    };
    const run = workflow_runs.find(
      (r) => r.path.endsWith(file) && Date.parse(r.created_at) >= started - 1000,
    );
    if (run?.status === 'completed') {
      console.log(`run ${run.id}: ${run.conclusion}`);
      return run.conclusion === 'success' ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (require.main === module) {
  const [command, file] = process.argv.slice(2);
  if (command !== 'publish-check' || !file) {
    console.error('usage: github.js publish-check WORKFLOW_FILE');
    process.exit(2);
  }
  publishCheck(file).then(
    (code) => process.exit(code),
    (err) => {
      console.error(String(err));
      process.exit(1);
    },
  );
}
