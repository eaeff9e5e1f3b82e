// A stand-in for an app that reads a shared token from SSM when deployed (the runbook's
// `deploy/secrets.sh && deploy.sh`): `deploy` fetches the parameter (its newest version, as
// secrets.sh does), writes .env (0600) and (re)starts a small HTTP server that accepts only
// `Authorization: Bearer <token>`; `probe` sends the token on its stdin and exits 0 on a 200.
// Run in its app dir: node secret-consumer.js deploy|stop|probe|logs (env: SSM_ENDPOINT,
// PARAM, PORT; FAIL_ON_NEW=1 makes deploy refuse any value but the first it saw).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';

const [, script, cmd] = process.argv;
const port = Number(process.env.PORT);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** Stops the running server and waits until it is gone (its port is free again). */
async function stop() {
  if (!existsSync('app.pid')) return;
  const pid = Number(readFileSync('app.pid', 'utf8'));
  try {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100; i++) {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch {
    // gone
  }
}

async function deploy() {
  const ssm = new SSMClient({ region: 'us-east-1', endpoint: process.env.SSM_ENDPOINT });
  const { Parameter } = await ssm.send(
    new GetParameterCommand({ Name: process.env.PARAM, WithDecryption: true }),
  );
  const token = Parameter?.Value ?? '';
  if (process.env.FAIL_ON_NEW) {
    if (!existsSync('first.sha256')) writeFileSync('first.sha256', sha(token));
    if (readFileSync('first.sha256', 'utf8') !== sha(token)) {
      console.error('app: the new token is refused at start');
      process.exit(1);
    }
  }
  // Written aside and renamed, as a deploy script should: a client reading .env (the suites'
  // login loops, every 50 ms) never sees it empty.
  writeFileSync('.env.tmp', `TOKEN=${token}\n`, { mode: 0o600 });
  renameSync('.env.tmp', '.env');
  await stop();
  const child = spawn(process.execPath, [script as string, 'serve'], { detached: true, stdio: 'ignore' });
  writeFileSync('app.pid', String(child.pid));
  child.unref();
  // Up when it answers.
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/health`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('app did not start');
}

function serve() {
  const token = /^TOKEN=(.*)$/m.exec(readFileSync('.env', 'utf8'))?.[1] ?? '';
  createServer((req, res) => {
    if (req.url === '/health') return res.writeHead(200).end('ok');
    res.writeHead(req.headers.authorization === `Bearer ${token}` ? 200 : 401).end();
  }).listen(port, '127.0.0.1');
}

async function probe() {
  const token = readFileSync(0, 'utf8');
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { authorization: `Bearer ${token}` } });
  console.log(`status ${res.status}`);
  process.exit(res.status === 200 ? 0 : 1);
}

const commands: Record<string, () => unknown> = { deploy, stop, serve, probe, logs: () => undefined };
Promise.resolve((commands[cmd ?? ''] ?? (() => Promise.reject(new Error(`unknown command ${cmd}`))))()).catch(
  (err) => {
    console.error(`app: ${(err as Error).message}`);
    process.exit(1);
  },
);
