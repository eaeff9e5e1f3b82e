// The set-up most suites share: a Temporal fixture in the suite's namespace, its topology (on its
// port, test/infra/ports.ts) seeded with keys, tokens and running services; after the suite, the
// services stopped and the fixture closed. Call it in a describe(); `take` hands the suite its
// parts once they are up (before the first test).
import { after, before } from 'node:test';
import { type TemporalFixture, temporalFixture } from '../helpers';
import type { TEST_NAMESPACES } from './env';
import { type Seeded, seed, stopServices, type Topology } from './topology';

export interface SeededSuite {
  fx: TemporalFixture;
  t: Topology;
  seeded: Seeded;
}

export function seededSuite(
  namespace: (typeof TEST_NAMESPACES)[number],
  build: () => Topology,
  take: (suite: SeededSuite) => void,
): void {
  let parts: Partial<SeededSuite> = {};
  before(async () => {
    const fx = await temporalFixture(namespace);
    parts = { fx };
    const t = build();
    parts.t = t;
    const seeded = await seed(t);
    take({ fx, t, seeded });
  });
  after(async () => {
    if (parts.t) await stopServices(parts.t);
    await parts.fx?.close();
  });
}
