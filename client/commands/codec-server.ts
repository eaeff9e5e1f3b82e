// rekey codec-server: the payload codec over HTTP, for the Temporal Web UI and the temporal CLI.
import { readFileSync } from 'node:fs';
import { loadCodec } from '../../worker/codec-keys';
import { CliError } from '../cli-error';
import { codecServer } from '../codec-server';
import { type Command, loadCliConfig, type Options, parse } from './common';

const OPTIONS = {
  port: { type: 'string', default: '8888' },
  host: { type: 'string', default: '127.0.0.1' },
  origin: { type: 'string', multiple: true },
  'token-file': { type: 'string' },
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
  const origins = values.origin ?? ['http://localhost:8080', 'http://127.0.0.1:8080'];
  const server = codecServer(codec, { origins, ...(token ? { token } : {}) });
  await new Promise<void>((res, rej) => server.once('error', rej).listen(port, values.host, res));
  const address = server.address();
  const at = typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address);
  console.log(
    `rekey codec server: http://${at} (origins ${origins.join(', ')}${token ? ', bearer token' : ''})`,
  );
  await new Promise<void>((res) => {
    const stop = () => server.close(() => res());
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
  return 0;
}

export const command: Command = {
  usage: `rekey codec-server [--port 8888] [--host 127.0.0.1] [--origin URL ...] [--token-file F] [--config F]

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

Exit codes: 0 stopped by a signal; 2 no codec in the config, or bad options.

Example:
  rekey codec-server --port 8888 --origin http://localhost:8233 --config rekey.yaml`,
  options: OPTIONS,
  run: serve,
};
