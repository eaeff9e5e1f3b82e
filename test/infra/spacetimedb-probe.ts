// The publish step for the REAL SpacetimeDB server in tests. Publishing a module needs a wasm32
// Rust target, which cannot be obtained here, so this asks the server what a publish depends on:
// is the cached publisher token (cli.toml) valid for its identity? It prints the guide's markers:
//   PUBLISH_SUCCESS identity=<id>              the server answered 204
//   PUBLISH_FAILED status=<code> <body>        anything else (401: the server's key did not sign it)
// It waits up to --wait for the server to listen (it was just restarted). With no token cached (a
// clean-slate rotation cleared it) it logs in afresh as the CLI does: POST /v1/identity, the new
// token saved in cli.toml.
// Test hook: a file ./.fail-publish makes the next probe fail (the file is consumed), standing in
// for a broken deploy.
//
//   node spacetimedb-probe.js [--server http://ADDR:PORT] [--cli-toml P] [--wait 20s]
// Without --server: the --listen-addr of ./.generated/docker-compose.yaml.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import { parse, stringify } from 'smol-toml';
import { parseDuration } from '../../config/duration';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      'cli-toml': { type: 'string', default: 'data/.config/spacetime/cli.toml' },
      wait: { type: 'string', default: '20s' },
    },
  });
  const listen = /--listen-addr=([^\s"]+)/.exec(readFileSync('.generated/docker-compose.yaml', 'utf8'))?.[1];
  const server = values.server ?? `http://${listen}`;
  if (existsSync('.fail-publish')) {
    rmSync('.fail-publish');
    console.log('PUBLISH_FAILED forced_by_test');
    return 1;
  }
  const file = values['cli-toml'];
  const doc = (existsSync(file) ? parse(readFileSync(file, 'utf8')) : {}) as { spacetimedb_token?: string };
  let token = doc.spacetimedb_token ?? '';
  const deadline = Date.now() + parseDuration(values.wait);
  for (;;) {
    try {
      if (!token) {
        // No cached token (a clean slate): log in afresh, as the CLI does, and cache it.
        const res = await fetch(`${server}/v1/identity`, { method: 'POST' });
        if (!res.ok) throw new Error(`POST /v1/identity: ${res.status}`);
        token = ((await res.json()) as { token: string }).token;
        writeFileSync(file, stringify({ ...doc, spacetimedb_token: token }), { mode: 0o600 });
        console.log(`logged in afresh: identity=${String(decodeJwt(token).hex_identity ?? '')}`);
      }
      const identity = String(decodeJwt(token).hex_identity ?? '');
      const res = await fetch(`${server}/v1/identity/${identity}/verify`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.status === 204) {
        console.log(`PUBLISH_SUCCESS identity=${identity}`);
        return 0;
      }
      console.log(`PUBLISH_FAILED status=${res.status} ${(await res.text()).slice(0, 200)}`);
      return 1;
    } catch (err) {
      if (Date.now() > deadline) {
        console.log(`PUBLISH_FAILED unreachable ${server}: ${(err as Error).message}`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    // Not the error's text: a TOML parse error quotes the line, which is the token's.
    console.log(`PUBLISH_FAILED probe error (${(err as Error).name})`);
    process.exit(1);
  },
);
