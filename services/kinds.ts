// Every service driver rekey knows, by its `driver` in rekey.yaml: what differs between them (the
// command lines, whether a restart starts a fresh log, their read-only checks). A driver without an
// entry here does not compile.
import type { ServiceConfig } from '../config/schema';
import { command } from './command';
import { compose } from './compose';
import type { Driver, ServiceKind } from './types';

export const SERVICE_KINDS: { [D in Driver]: ServiceKind<D> } = { compose, command };

/** The kind of a configured service. */
export const serviceKind = (cfg: ServiceConfig) => SERVICE_KINDS[cfg.driver] as ServiceKind<Driver>;
