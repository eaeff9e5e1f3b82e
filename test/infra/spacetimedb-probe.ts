// The publish step for the REAL SpacetimeDB server in tests. Publishing a module needs a wasm32
// Rust target, which cannot be obtained here, so this asks the server what a publish depends on:
// is the cached publisher token (cli.toml) valid for its identity? It prints the guide's markers:
//   PUBLISH_SUCCESS identity=<id>              the server answered 204
//   PUBLISH_FAILED status=<code> <body>        anything else (401: the server's key did not sign it)
// It waits up to --wait for the server to listen (it was just restarted).
// Test hook: a file ./.fail-publish makes the next probe fail (the file is consumed), standing in
// for a broken deploy.
//
//   node spacetimedb-probe.js [--server http://ADDR:PORT] [--cli-toml P] [--wait 20s]
// Without --server: the --listen-addr of ./.generated/docker-compose.yaml.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import { parse } from 'smol-toml';
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
  const doc = parse(readFileSync(values['cli-toml'], 'utf8')) as { spacetimedb_token?: string };
  const token = doc.spacetimedb_token ?? '';
  const identity = String(decodeJwt(token).hex_identity ?? '');
  const deadline = Date.now() + parseDuration(values.wait);
  for (;;) {
    try {
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
