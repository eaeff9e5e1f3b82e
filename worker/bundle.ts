// The workflow code as one bundle, built once by `npm run build` (node dist/worker/bundle.js):
// a worker loads it and starts in about a second, without bundling or the bundler's output.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

/** dist/workflow-bundle.js, next to the compiled workflows it is made from. */
export const BUNDLE_PATH = join(__dirname, '..', 'workflow-bundle.js');

export function workflowBundle(): { codePath: string } {
  if (!existsSync(BUNDLE_PATH)) throw new Error(`${BUNDLE_PATH} is missing: run npm run build`);
  return { codePath: BUNDLE_PATH };
}

if (require.main === module) {
  bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: new DefaultLogger('WARN'),
  }).then(
    ({ code }) => writeFileSync(BUNDLE_PATH, code),
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
