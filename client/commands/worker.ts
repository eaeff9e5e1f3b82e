// `rekey worker`: runs a worker until SIGINT/SIGTERM, then shuts down gracefully (in-flight
// activities finish or are cancelled; workflows resume on the next worker).
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, type LogEntry, type LogLevel, NativeConnection, Runtime } from '@temporalio/worker';
import type { Config } from '../../config/schema';
import { dataConverterOf } from '../../temporal/codec-keys';
import { connectConfig } from '../../temporal/connection';
import { boundWorkerHeap } from '../../worker/heap';
import { startCollector } from '../../worker/metrics';
import { createRekeyWorker } from '../../worker/worker';
import { CliError } from '../cli-error';
import { type Command, configPath, loadCliConfig, type Options, parse } from './common';

const LEVELS: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/** A log entry on one line: a run that failed (a rejection, a refusal) is an outcome an operator
 * reads, not a stack trace; REKEY_LOG_LEVEL=INFO or lower shows the SDK's full entries. */
function oneLine(entry: LogEntry): void {
  const meta = entry.meta ?? {};
  // The error may come from the workflow sandbox's realm: not an `instanceof Error` here.
  const raw = meta.error as { message?: unknown } | undefined;
  const error = typeof raw?.message === 'string' ? raw.message.replace(/\s*\n\s*/g, ' ') : undefined;
  const run =
    typeof meta.workflowId === 'string' ? ` ${meta.workflowType ?? 'workflow'} ${meta.workflowId}` : '';
  const at = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  console.error(`${at} [${entry.level}] ${entry.message}${run}${error ? `: ${error}` : ''}`);
}

/** An IP:PORT to serve Prometheus metrics on (the SDK binds a socket address, not a name). */
function metricsAddress(given: string): string {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(given);
  const ip = m?.[1] ?? m?.[2] ?? '';
  if (!m || !isIP(ip) || (m[1] !== undefined && isIP(ip) !== 6) || Number(m[3]) > 65535)
    throw new CliError(
      `--metrics ${given}: give an IP address and port to serve metrics on, e.g. 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464`,
    );
  return given;
}

async function runWorker(config: Config, configFile?: string, metrics?: string): Promise<void> {
  // One line at start and one at stop; the SDK's own INFO lines (state changes) with
  // REKEY_LOG_LEVEL=INFO (or DEBUG, TRACE).
  const level = process.env.REKEY_LOG_LEVEL ?? 'WARN';
  if (!LEVELS.includes(level as LogLevel))
    throw new CliError(`REKEY_LOG_LEVEL=${level}: use one of ${LEVELS.join(', ')}`);
  boundWorkerHeap();
  Runtime.install({
    logger: new DefaultLogger(level as LogLevel, level === 'WARN' || level === 'ERROR' ? oneLine : undefined),
    ...(metrics
      ? {
          telemetryOptions: {
            metrics: {
              prometheus: { bindAddress: metrics, countersTotalSuffix: true, useSecondsForDurations: true },
            },
          },
        }
      : {}),
  });
  const { connectionOptions, namespace } = connectConfig();
  const connection = await NativeConnection.connect(connectionOptions).catch((err: Error) => {
    throw new CliError(
      `cannot reach the Temporal server at ${connectionOptions.address} (${err.message}): set TEMPORAL_ADDRESS=host:port or a temporal.toml profile (TEMPORAL_PROFILE)`,
      1,
    );
  });
  try {
    const worker = await createRekeyWorker({ config, connection, namespace, configFile });
    console.log(
      `rekey worker: ${connectionOptions.address} namespace ${namespace}, task queue ${worker.options.taskQueue}${metrics ? `, metrics on http://${metrics}/metrics` : ''}`,
    );
    const stopCollecting = metrics
      ? await collect(config, connectionOptions, namespace, worker.options.taskQueue)
      : undefined;
    try {
      await worker.run();
    } finally {
      await stopCollecting?.();
    }
    console.log('rekey worker: stopped');
  } finally {
    await connection.close();
  }
}

/** The gauges of worker/metrics.ts, read through a client of the worker's own. */
async function collect(
  config: Config,
  connectionOptions: ReturnType<typeof connectConfig>['connectionOptions'],
  namespace: string,
  taskQueue: string,
): Promise<() => Promise<void>> {
  const connection = await Connection.connect(connectionOptions);
  const client = new Client({ connection, namespace, ...(await dataConverterOf(config)) });
  const stop = startCollector({ client, config, taskQueue, meter: Runtime.instance().metricMeter });
  return async () => {
    stop();
    await connection.close();
  };
}

const OPTIONS = { metrics: { type: 'string' } } satisfies Options;

async function worker(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const metrics = values.metrics === undefined ? undefined : metricsAddress(values.metrics);
  await runWorker(loadCliConfig(values.config), resolve(configPath(values.config)), metrics);
  return 0;
}

export const command: Command = {
  usage: `rekey worker [--config F] [--metrics IP:PORT]

Runs a rekey worker (task queue "rekey", or $REKEY_TASK_QUEUE) until SIGINT/SIGTERM, then lets
the activities in flight finish. Prints one line when it polls and one when it has stopped; the
Temporal SDK's own log lines with REKEY_LOG_LEVEL=INFO (TRACE, DEBUG, INFO, WARN, ERROR).

--metrics IP:PORT  serve Prometheus metrics at http://IP:PORT/metrics: the Temporal SDK's
  (temporal_*) and rekey's: runs started, completed and failed per workflow type and
  environments, step durations, gates pending and how long each has waited, when each secret
  was written and falls due, failed notification deliveries (docs/operations.md#metrics-and-alerts).

Exit codes: 0 stopped by a signal; 1 the Temporal server cannot be reached; 2 a bad config.`,
  options: OPTIONS,
  run: worker,
};
