// A plain command set as a service driver (systemd, helm, kubectl, anything else): the config's own
// command lines, run in the host's app dir.
import type { ServiceKind } from './types';

export const command: ServiceKind<'command'> = {
  // A restart keeps the log: markers are read after what the log held before it.
  freshLogOnRestart: false,
  commands: (cfg) => ({ restart: cfg.restart, stop: cfg.stop, start: cfg.start, logs: cfg.logs }),
  configured: (cfg) => ({
    start: cfg.start,
    stop: cfg.stop,
    restart: cfg.restart,
    logs: cfg.logs,
    publish: cfg.publish,
  }),
  problems: async () => [],
};
