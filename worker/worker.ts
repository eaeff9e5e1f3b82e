// Builds the rekey worker: real dependencies from config, the workflows, the activities.
import { hostname } from 'node:os';
import { type NativeConnection, Worker } from '@temporalio/worker';
import { createCodecKeyActivities } from '../activities/codec-keyring';
import { createKeyringActivities } from '../activities/keyring';
import { createLockActivities } from '../activities/locks';
import { createPromotionActivities } from '../activities/promotion';
import { createRotationActivities } from '../activities/rotation';
import { createScheduleActivities } from '../activities/schedules';
import { createSecretActivities } from '../activities/secret-rotation';
import { createWorkerConfigActivities } from '../activities/worker-config';
import type { Config } from '../config/schema';
import { taskQueue } from '../shared/task-queue';
import { storeRegistry } from '../stores/drivers';
import { dataConverterOf } from '../temporal/codec-keys';
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
   * refuses new runs once the file changed on disk (see activities/worker-config.ts). */
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
    activities: guarded(opts.config, {
      ...createRotationActivities({ config: opts.config, store }),
      ...createKeyringActivities({ config: opts.config, store }),
      ...createCodecKeyActivities({ config: opts.config, store }),
      ...createSecretActivities({ config: opts.config, store }),
      ...createPromotionActivities({ config: opts.config }),
      ...createLockActivities(),
      ...createScheduleActivities(),
      ...createWorkerConfigActivities({ config: opts.config, identity, configFile: opts.configFile }),
    }),
  });
}
