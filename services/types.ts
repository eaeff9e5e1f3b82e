// What a service driver is: the actions rekey takes on a service (ServiceDriver), and what differs
// between drivers (ServiceKind, one per driver in kinds.ts).
import type { ServiceConfig } from '../config/schema';
import type { ExecResult, Host } from '../hosts/types';

export interface MarkerWait {
  /** Log text already seen before the action: markers in it don't count. */
  baseline?: string;
  /** Output of the publish command, scanned before the logs. */
  extra?: string;
  timeoutMs?: number;
  pollMs?: number;
  heartbeat?: (details: unknown) => void;
}

export interface ServiceDriver {
  /** A restart starts a fresh log (a recreated container), so no old marker can be seen. */
  readonly freshLogOnRestart: boolean;
  /** Recreates the service so it reads the key files again (keys load only at start). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  logs(): Promise<string>;
  /** Runs the configured publish command; null when none is configured. A non-zero exit fails
   * (PublishFailed) whatever the logs say: a container's own start may print a success marker. */
  publish(): Promise<ExecResult | null>;
  waitForMarkers(opts: MarkerWait): Promise<{ marker: string; line: string }>;
}

export type Driver = ServiceConfig['driver'];
type ConfigOf<D extends Driver> = Extract<ServiceConfig, { driver: D }>;

export interface ServiceKind<D extends Driver> {
  /** A restart starts a fresh log (a recreated container), so no old marker can be seen. */
  freshLogOnRestart: boolean;
  /** The command lines of each action, run in the host's app dir. */
  commands(cfg: ConfigOf<D>): { restart: string; stop: string; start: string; logs: string };
  /** The command lines the config gives (their programs must be on the host), by action. */
  configured(cfg: ConfigOf<D>): Record<string, string | undefined>;
  /** Read-only checks of the driver's own, each problem naming the host. */
  problems(host: Host, cfg: ConfigOf<D>): Promise<string[]>;
}
