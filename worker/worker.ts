// Builds the rekey worker: real dependencies from config, the workflows, the activities.
import { hostname } from 'node:os';
import { type NativeConnection, Worker } from '@temporalio/worker';
import { createCodecKeyActivities } from '../activities/codec-key';
import { createEnvironmentLockActivities } from '../activities/environment-lock';
import { createNotifyActivities } from '../activities/notify';
import { createPromoteHopActivities } from '../activities/promote-hop';
import { createRolloverActivities } from '../activities/rollover';
import { createRotateActivities } from '../activities/rotate';
import { createRotateSecretActivities } from '../activities/rotate-secret';
import { createRotateSecretsActivities } from '../activities/rotate-secrets';
import { createScheduleActivities } from '../activities/schedules';
import { createStarterConfigActivities } from '../activities/starter-config';
import type { Config } from '../config/schema';
import { taskQueue } from '../shared/task-queue';
import { storeRegistry } from '../stores/drivers';
import { dataConverterOf } from '../temporal/codec-keys';
import { activitySet } from './activity-set';
import { FAILURE_CONVERTER_PATH, workflowBundle } from './bundle';
import { guarded } from './guard';

export interface RekeyWorkerOptions {
  config: Config;
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** 0 turns off the workflow cache (and sticky task queues). */
  maxCachedWorkflows?: number;
  /** The rekey.yaml `config` was loaded from: a run names it when it refuses, and the worker
   * refuses new runs once the file changed on disk (see activities/starter-config.ts). */
  configFile?: string;
}

export async function createRekeyWorker(opts: RekeyWorkerOptions): Promise<Worker> {
  const store = storeRegistry(opts.config.stores);
  const identity = `${process.pid}@${hostname()}`;
  return Worker.create({
    identity,
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: taskQueue(opts.taskQueue),
    workflowBundle: workflowBundle(),
    // Failures sealed as payloads, by the activities here as by the workflow bundle.
    dataConverter: {
      ...(await dataConverterOf(opts.config)).dataConverter,
      failureConverterPath: FAILURE_CONVERTER_PATH,
    },
    ...(opts.maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows: opts.maxCachedWorkflows }),
    // Every activity that changes an environment checks its run's approval itself (guard.ts).
    activities: guarded(
      opts.config,
      activitySet(
        createRotateActivities({ config: opts.config, store }),
        createRolloverActivities({ config: opts.config, store }),
        createCodecKeyActivities({ config: opts.config, store }),
        createRotateSecretActivities({ config: opts.config, store }),
        createRotateSecretsActivities({ config: opts.config, store }),
        createPromoteHopActivities({ config: opts.config }),
        createEnvironmentLockActivities(),
        createScheduleActivities(),
        createStarterConfigActivities({ config: opts.config, identity, configFile: opts.configFile }),
        createNotifyActivities({ config: opts.config }),
      ),
    ),
  });
}
