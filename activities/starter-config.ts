// The worker's side of "a gate the CLI announces is a gate the run has" (config/run-config.ts):
// a run's first step compares the parts of rekey.yaml its starter used with this worker's, and
// refuses, naming the worker, when they differ or when this worker's rekey.yaml changed on disk
// since it started (it still runs the old one).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type ActiveFreeze, activeFreeze } from '../config/freezes';
import { routedTypes } from '../config/notify';
import { changedBy, configParts, differingParts, type RunKind, runScopeOf } from '../config/run-config';
import type { Config } from '../config/schema';
import { FailureType, fail } from '../shared/failures';
import type { NotifyRouting } from '../shared/notify-events';

export interface WorkerFacts {
  config: Config;
  /** The rekey.yaml this worker loaded, when it came from a file. */
  configFile?: string;
  /** The worker's identity as Temporal shows it (pid@host). */
  identity: string;
}

const fileDigest = (file: string) => {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
  } catch (err) {
    return `unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
};

/** The events this worker's notify: routes for the run's environments: the run emits those. A
 * run naming an unknown environment emits none (its plan refuses it, naming it). */
function notifyRouting(config: Config, run: RunKind): { notify?: NotifyRouting } {
  if (!config.notify) return {};
  let environments: string[];
  try {
    environments = runScopeOf(config, run).environments;
  } catch {
    return {};
  }
  const types = routedTypes(config.notify, environments);
  return types.length ? { notify: { types, environments } } : {};
}

/** The freeze holding the run's environments now, if any (config/freezes.ts). */
function freezeOf(config: Config, run: RunKind, at: number): { frozen?: ActiveFreeze } {
  if (!Object.keys(config.freezes).length) return {};
  let environments: string[];
  try {
    environments = changedBy(config, run);
  } catch {
    return {};
  }
  const frozen = activeFreeze(config.freezes, environments, at);
  return frozen ? { frozen } : {};
}

export function createStarterConfigActivities(facts: WorkerFacts) {
  const loaded = facts.configFile ? fileDigest(facts.configFile) : undefined;
  const worker = `worker ${facts.identity}${facts.configFile ? ` (config ${facts.configFile}, ${loaded})` : ''}`;
  return {
    /** The events to emit for a run that makes no starter check of its own (a hop). */
    async notifyRouting(input: { run: RunKind }): Promise<{ notify?: NotifyRouting }> {
      return notifyRouting(facts.config, input.run);
    },

    /** Refuses (nothing changed) a run whose starter's config differs from this worker's in what
     * the run uses, or any run once this worker's rekey.yaml changed on disk: as `refused`, with
     * the events to emit, so that the run's failure is announced like any other (a scheduled run
     * refused here has nobody watching it start). */
    async checkStarterConfig(input: {
      run: RunKind;
      starter?: Record<string, string>;
      /** The workflow's clock: freezes are looked up at the time the run sees. */
      at?: number;
      /** Set by workflow code that reads `refused` (and announces it); a run of older code, which
       * would not, is refused by a failure as before. */
      refusalAsResult?: boolean;
    }): Promise<{ notify?: NotifyRouting; frozen?: ActiveFreeze; refused?: string }> {
      const routing = notifyRouting(facts.config, input.run);
      const refused = refusal(input.run, input.starter);
      if (refused && !input.refusalAsResult) throw fail(FailureType.BadInput, refused);
      if (refused) return { ...routing, refused };
      return { ...routing, ...freezeOf(facts.config, input.run, input.at ?? Date.now()) };
    },
  };

  function refusal(run: RunKind, starter: Record<string, string> | undefined): string | undefined {
    if (facts.configFile && loaded !== undefined) {
      const now = fileDigest(facts.configFile);
      if (now !== loaded)
        return `${worker}: its rekey.yaml changed on disk since it started (${now} now): it still runs the one it loaded; restart it to use the new one; nothing was changed`;
    }
    if (!starter) return undefined; // started by a client that sent none (the Web UI)
    const differ = differingParts(starter, configParts(facts.config, runScopeOf(facts.config, run)));
    if (differ.includes('config schema'))
      return `the starter runs another rekey version than ${worker} (they read rekey.yaml's settings differently): upgrade the one that is behind, then start again; nothing was changed`;
    if (differ.length)
      return `the starter's rekey.yaml and ${worker} differ in what this run uses: ${differ.join(', ')}. The worker reads rekey.yaml only at start (restart it after editing), or another worker with another config polls this task queue; nothing was changed`;
    return undefined;
  }
}

export type StarterConfigActivities = ReturnType<typeof createStarterConfigActivities>;
