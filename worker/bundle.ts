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

/** `code` with each character past ASCII written as its \u escape (one per UTF-16 unit, so a
 * character past the BMP becomes its surrogate pair, which a `u` regex reads as one): V8 keeps a
 * script's source for as long as its functions may compile, two bytes a character once a single
 * one is past Latin-1 (zod's locales), and the workflow thread runs the bundle for its life.
 * The same program where such characters are in string literals, untagged templates, regexes,
 * comments and BMP identifiers (all of today's bundle); a tagged template's raw text would
 * change. Refused: one after an unescaped backslash, and the non-ASCII spaces and line
 * terminators, which are syntax, not text, outside literals. */
export function asciiOnly(code: string): string {
  const escaped = /(?<!\\)(?:\\\\)*\\[\u0080-\uffff]/.exec(code);
  if (escaped)
    throw new Error(
      `a backslash before a non-ASCII character at ${escaped.index}: cannot escape it as \\uXXXX`,
    );
  const space = /[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/.exec(code);
  if (space)
    throw new Error(
      `a non-ASCII space or line terminator (U+${space[0].charCodeAt(0).toString(16).toUpperCase()}) at ${space.index}: escaping it could change the program`,
    );
  return code.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
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
    // Stack traces still map to the TypeScript files and lines; the map no longer carries the
    // sources themselves (2 MB of the bundle, kept and parsed by every worker).
    webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
  }).then(
    ({ code }) => {
      const mapAt = code.lastIndexOf('//# sourceMappingURL=data:');
      writeFileSync(BUNDLE_PATH, asciiOnly(code.slice(0, mapAt)) + code.slice(mapAt));
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
