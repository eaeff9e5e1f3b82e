// A secret recipe's probes: how a new value is proved to work (an HTTP status, a command's output or
// exit, a PostgreSQL login, an S3 call signed with a new key pair). Each try answers '' when the
// probe passes, else what it saw, never the value.
import type { SecretRecipe } from '../config/secret-recipes';
import type { Host } from '../hosts/types';
import type { PostgresServer } from '../stores/postgres/server';
import { credential, fieldOf, fill } from './secret-recipe';

/** What a try needs from the run around it. */
export interface ProbeContext {
  /** The secret's name, for errors. */
  secret: string;
  /** The running activity's cancellation: a cancelled run stops probing at once. */
  signal: AbortSignal | undefined;
  postgresServer(store: string): PostgresServer;
  onEnvHost<T>(env: string, fn: (host: Host) => Promise<T>): Promise<T>;
}

/** One try of probe `p` in `env`, with the new value (`secret`) where the probe needs it. */
export async function tryProbe(
  p: SecretRecipe['verify'][number],
  env: string,
  secret: string | undefined,
  ctx: ProbeContext,
): Promise<string> {
  const { signal } = ctx;
  if ('postgresLogin' in p) {
    const login = p.user
      ? { username: p.user, password: secret ?? '' }
      : credential(secret ?? '', `secret ${ctx.secret}`);
    return ctx.postgresServer(p.postgresLogin).tryLogin(login.username, login.password, p.database);
  }
  if ('s3' in p) return tryS3(p, secret ?? '', signal);
  if ('http' in p) {
    const url = fill(p.http, env);
    try {
      const res = await fetch(url, {
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(10_000)]) : AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
      return res.status === p.status ? '' : `status ${res.status}`;
    } catch (err) {
      return `${(err as Error).message}`;
    }
  }
  return ctx.onEnvHost(env, async (host) => {
    const r = await host.exec(fill(p.command, env), {
      cwd: host.appDir,
      ...(signal ? { signal } : {}),
      ...(secret === undefined ? {} : { stdin: secret }),
    });
    if (r.code !== 0) return `exit ${r.code}`;
    if (p.expect && !new RegExp(p.expect).test(r.stdout)) return 'output did not match';
    return '';
  });
}

/** HeadBucket signed with the access key pair in `value` ({accessKeyId, secretAccessKey}): ''
 * when it answers 200, else what the store said (an error name, never the key). */
async function tryS3(
  p: { s3: string; endpoint?: string | undefined; region: string },
  value: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  const [accessKeyId, secretAccessKey] = [fieldOf(value, 'accessKeyId'), fieldOf(value, 'secretAccessKey')];
  if (!accessKeyId || !secretAccessKey) return 'the value has no accessKeyId and secretAccessKey';
  const { HeadBucketCommand, S3Client } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    region: p.region,
    credentials: { accessKeyId: accessKeyId ?? '', secretAccessKey: secretAccessKey ?? '' },
    maxAttempts: 1,
    ...(p.endpoint ? { endpoint: p.endpoint, forcePathStyle: true } : {}),
  });
  try {
    await client.send(new HeadBucketCommand({ Bucket: p.s3 }), {
      abortSignal: signal
        ? AbortSignal.any([signal, AbortSignal.timeout(10_000)])
        : AbortSignal.timeout(10_000),
    });
    return '';
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    return `${e.name ?? 'error'}${e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}`;
  } finally {
    client.destroy();
  }
}
