// A value set by another tool's command on the environment's host (`flyctl secrets import`), given
// on stdin, never as an argument.
import { shellQuote } from '../../hosts/shell';
import { FailureType, fail } from '../../shared/failures';
import type { StoreDriver } from '../types';
import type { CommandStoreConfig } from './config';

export const driver: StoreDriver<CommandStoreConfig> = {
  place: (storeName, cfg, name, ctx) => ({
    marker: 'write-only',
    text: `set ${name} with \`${cfg.write}\` (${cfg.stdin === 'value' ? 'the value' : `${name}=value`} on stdin)`,
    exists: async () => true,
    set: (value) =>
      ctx.onEnvHost(async (host) => {
        // NAME=value lines: a line break in the value would cut it or set another name.
        if (cfg.stdin === 'name=value' && /[\r\n]/.test(value))
          throw fail(
            FailureType.BadInput,
            `store ${storeName}: the value for ${name} holds a line break, which NAME=value input cannot carry (value not shown)`,
          );
        const r = await host.exec(
          `REKEY_ENV=${shellQuote(ctx.env)} REKEY_NAME=${shellQuote(name)} ${cfg.write}`,
          {
            cwd: host.appDir,
            stdin: cfg.stdin === 'value' ? value : `${name}=${value}\n`,
          },
        );
        // Its output may echo what it was given: not quoted.
        if (r.code !== 0)
          throw new Error(
            `store ${storeName}: \`${cfg.write}\` for ${name} exited ${r.code} on ${host.name} (output not shown)`,
          );
      }),
  }),
};
