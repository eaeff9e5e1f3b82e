// The workflow code as one bundle, built once by `npm run build` (node dist/worker/bundle.js):
// a worker loads it and starts in about a second, without bundling or the bundler's output.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

/** The failure converter of the bundle and of the activities (shared/failure-converter.ts). */
export const FAILURE_CONVERTER_PATH = require.resolve('../shared/failure-converter');

/** dist/workflow-bundle.js, next to the compiled workflows it is made from. */
export const BUNDLE_PATH = join(__dirname, '..', 'workflow-bundle.js');

/** The bundle, refused when missing or older than the compiled workflows it was made from
 * (a `tsc` without `npm run build`): a worker must never run other workflow code than dist/ has. */
export function workflowBundle(): { codePath: string } {
  if (!existsSync(BUNDLE_PATH)) throw new Error(`${BUNDLE_PATH} is missing: run npm run build`);
  const built = statSync(BUNDLE_PATH).mtimeMs;
  const sources = ['workflows', 'shared', 'config'].map((d) => join(__dirname, '..', d));
  const newer = sources
    .flatMap((dir) => readdirSync(dir).map((f) => join(dir, f)))
    .find((f) => f.endsWith('.js') && statSync(f).mtimeMs > built);
  if (newer) throw new Error(`${BUNDLE_PATH} is older than ${newer}: run npm run build`);
  return { codePath: BUNDLE_PATH };
}

if (require.main === module) {
  bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    // zod evaluated once per worker instead of once per workflow run: it holds no per-run state,
    // and its evaluation was most of a short run's workflow-thread CPU (bench:secrets).
    preloadModules: [require.resolve('../workflows/preloaded')],
    failureConverterPath: FAILURE_CONVERTER_PATH,
    // Every run's end, whichever way it ends (workflows/interceptors.ts).
    workflowInterceptorModules: [require.resolve('../workflows/interceptors')],
    logger: new DefaultLogger('WARN'),
  }).then(
    ({ code }) => writeFileSync(BUNDLE_PATH, code),
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
