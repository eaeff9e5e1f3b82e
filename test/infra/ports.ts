// The ports the suites' services listen on, in one table. Suites run two at a time, each
// topology's services on its port at every test host's address: two blocks that overlap would
// have two suites' services bind one port. test/fast/ports.test.ts checks that none do, and that
// no suite picks a port of its own.
export const PORTS = {
  'rotate-full': { base: 3101 },
  'rotate-gate': { base: 3102 },
  'rotate-rollback': { base: 3103 },
  'rotate-crash': { base: 3104 },
  'gate-timeout': { base: 3105 },
  service: { base: 3106 },
  'cli-temporal': { base: 3107 },
  schedules: { base: 3108 },
  'rotate-policy': { base: 3109 },
  rollover: { base: 3120 },
  'rollover-ts': { base: 3121 },
  'schedules-ring': { base: 3122 },
  promote: { base: 3130 },
  'promote-gate': { base: 3131 },
  'promote-crash': { base: 3132 },
  'promote-source-gate': { base: 3133 },
  safety: { base: 3170 },
  approvals: { base: 3180 },
  'web-ui': { base: 3190 },
  'stdb-real': { base: 3200 },
  // The topology's service, and the README keyring's replica.
  readme: { base: 3210, size: 2 },
  codec: { base: 3220 },
  production: { base: 3230 },
  'codec-keyring': { base: 3240 },
  // The topology's service, and seven consumers of the secret recipes.
  secrets: { base: 3250, size: 8 },
  'access-keys': { base: 3270 },
  'compose-deploy': { base: 3275 },
  coupled: { base: 3280 },
  reencrypt: { base: 3290 },
  kubernetes: { base: 3300 },
  'exact-copy': { base: 3310 },
  'exact-xfs': { base: 3311 },
  'example-layout': { base: 3312 },
  strategies: { base: 3313 },
  'verify-list': { base: 3314 },
  retire: { base: 3315 },
  'first-keys': { base: 3316 },
  'to-local': { base: 3317 },
  // The topology's service (unused), the webhook and Slack receiver, the SMTP server, a port
  // nothing listens on.
  notify: { base: 3318, size: 4 },
  // The topology's service (unused), the worker's metrics, Prometheus.
  metrics: { base: 3322, size: 3 },
  // The topology's service (unused), the consumer app.
  'secret-batch': { base: 3325, size: 2 },
  'space-noop': { base: 3327 },
  'exact-btrfs': { base: 3328 },
} satisfies Record<string, { base: number; size?: number }>;

export type Suite = keyof typeof PORTS;

/** The first port of `suite`'s block (the topology's service port). */
export const portOf = (suite: Suite): number => PORTS[suite].base;
