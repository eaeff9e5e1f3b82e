// rekey codec-server: the payload codec over HTTP, for the Temporal Web UI and the temporal CLI.
import { readFileSync } from 'node:fs';
import { loadCodec } from '../../temporal/codec-keys';
import { CliError } from '../cli-error';
import { codecServer } from '../codec-server';
import { type Command, loadCliConfig, type Options, parse } from './common';

const OPTIONS = {
  port: { type: 'string', default: '8888' },
  host: { type: 'string', default: '127.0.0.1' },
  origin: { type: 'string', multiple: true },
  'token-file': { type: 'string' },
  'insecure-no-auth': { type: 'boolean', default: false },
  'allowed-host': { type: 'string', multiple: true },
  namespace: { type: 'string', multiple: true },
} satisfies Options;

async function serve(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const config = loadCliConfig(values.config);
  const codec = await loadCodec(config);
  if (!codec)
    throw new CliError('the config has no codec: add codec.active and codec.keys (see rekey.example.yaml)');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(`--port ${values.port}: not a port`);
  const token = values['token-file'] ? readFileSync(values['token-file'], 'utf8').trim() : undefined;
  // An empty file must not quietly turn the check off.
  if (token === '') throw new CliError(`--token-file ${values['token-file']}: the file is empty`);
  // It holds the keys: anyone who reaches it reads every payload. No token only when asked for.
  if (!token && !values['insecure-no-auth'])
    throw new CliError(
      'codec-server opens every sealed payload for whoever calls it: give --token-file F, or --insecure-no-auth for a server only you reach (a laptop, or behind a proxy that authenticates)',
    );
  if (token && values['insecure-no-auth'])
    throw new CliError('--token-file and --insecure-no-auth: choose one');
  const origins = values.origin ?? ['http://localhost:8080', 'http://127.0.0.1:8080'];
  const namespaces = values.namespace ?? [process.env.TEMPORAL_NAMESPACE || 'default'];
  const hosts = ['localhost', '127.0.0.1', '::1', ...(values['allowed-host'] ?? [])];
  const server = codecServer(codec, { origins, hosts, namespaces, ...(token ? { token } : {}) });
  await new Promise<void>((res, rej) => server.once('error', rej).listen(port, values.host, res));
  const address = server.address();
  const at = typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address);
  console.log(
    `rekey codec server: http://${at} (origins ${origins.join(', ')}; hosts ${hosts.join(', ')}; namespaces ${namespaces.join(', ')}; ${token ? 'bearer token' : 'NO AUTHENTICATION (--insecure-no-auth)'})`,
  );
  await new Promise<void>((res) => {
    const stop = () => server.close(() => res());
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
  return 0;
}

export const command: Command = {
  usage: `rekey codec-server (--token-file F | --insecure-no-auth) [--port 8888] [--host 127.0.0.1]
                   [--origin URL ...] [--allowed-host NAME ...] [--namespace NS ...] [--config F]

Serves the config's payload codec (codec: in rekey.yaml) over HTTP until SIGINT/SIGTERM: POST
/decode shows sealed payloads in the Temporal Web UI, POST /encode seals the inputs the UI sends
(Start Workflow, Signal, Update). Point the UI at it (TEMPORAL_CODEC_ENDPOINT, or the dev
server's --ui-codec-endpoint) and the temporal CLI with --codec-endpoint. It holds the codec
keys: listen where only operators reach it.

Options:
  --origin URL      the Web UI's origin, allowed by CORS (default http://localhost:8080 and
                    http://127.0.0.1:8080; repeat)
  --token-file F    require "Authorization: Bearer <token>" (temporal --codec-auth; the Web UI sends
                    its users' own OIDC tokens instead, and only to https endpoints)
  --insecure-no-auth
                    no token: for a server only you reach (a laptop; a proxy that authenticates).
                    One of the two is required.
  --allowed-host N  a host name it is reached by, besides localhost, 127.0.0.1 and ::1 (the Host
                    header; anything else is refused, so a page cannot rebind its name to it)
  --namespace NS    the namespaces it serves (X-Namespace; default $TEMPORAL_NAMESPACE or default)

Requests from an origin not given with --origin are refused (403).

Exit codes: 0 stopped by a signal; 2 no codec in the config, or bad options.

Example:
  rekey codec-server --token-file /etc/rekey/codec-token --port 8888 --origin http://localhost:8233
  rekey codec-server --insecure-no-auth --origin http://localhost:8233   # a laptop`,
  options: OPTIONS,
  run: serve,
};
