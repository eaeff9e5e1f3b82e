// Fast tier: rotation windows (config/windows.ts) as arithmetic, and a run given one on the
// time-skipping server: outside it, the run waits durably for the opening and then rotates, or
// is skipped (it plans as a dry run and changes nothing), as the window says.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { type RunWindow, windowAt } from '../../config/windows';
import { rotateJwtKeys } from '../../workflows';
import { RotateInput } from '../../workflows/inputs';
import { progressQuery } from '../../workflows/messages';
import { until } from '../infra/until';
import { timeSkipping, withWorker } from './harness';
import { mocks, plan } from './rotation-mocks';

const at = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();
const opens = (w: RunWindow, now: string) => {
  const r = windowAt(w, at(now));
  return r.open ? 'open' : iso(r.opensAt);
};

describe('rotation windows', () => {
  const office: RunWindow = { allow: ['mon-fri 09:00-17:00'], timeZone: 'Europe/Berlin' };

  it('is open inside its hours on its days, in its time zone', () => {
    // Monday 2026-12-07, 09:00 in Berlin is 08:00 UTC (CET, +01:00).
    assert.equal(opens(office, '2026-12-07T08:00:00Z'), 'open');
    assert.equal(opens(office, '2026-12-07T15:59:59Z'), 'open');
    assert.equal(opens(office, '2026-12-07T16:00:00Z'), '2026-12-08T08:00:00.000Z');
    assert.equal(opens(office, '2026-12-07T07:59:00Z'), '2026-12-07T08:00:00.000Z');
  });

  it('skips the days it does not name: from Friday evening to Monday morning', () => {
    assert.equal(opens(office, '2026-12-11T17:30:00Z'), '2026-12-14T08:00:00.000Z');
    assert.equal(opens(office, '2026-12-13T12:00:00Z'), '2026-12-14T08:00:00.000Z');
  });

  it('follows daylight saving time: 09:00 in Berlin is 07:00 UTC in summer', () => {
    // Sunday 2026-03-29 the clocks go forward; Monday opens at 07:00 UTC (CEST, +02:00).
    assert.equal(opens(office, '2026-03-28T12:00:00Z'), '2026-03-30T07:00:00.000Z');
    assert.equal(opens(office, '2026-10-23T16:00:00Z'), '2026-10-26T08:00:00.000Z');
  });

  it('steps over no calendar day: the next opening on the day the clocks go forward, from the evening before', () => {
    // 2025-03-08 23:00 in Denver (06:00 UTC on the 9th), the night before DST: Sunday opens at 09:00
    // MDT, 15:00 UTC, that same morning (not a week later).
    assert.equal(
      opens({ allow: ['sun 09:00-17:00'], timeZone: 'America/Denver' }, '2025-03-09T06:00:00Z'),
      '2025-03-09T15:00:00.000Z',
    );
    assert.equal(
      opens({ allow: ['sun 09:00-17:00'], timeZone: 'Europe/Berlin' }, '2026-03-28T23:30:00Z'),
      '2026-03-29T07:00:00.000Z',
    );
  });

  it('a span past midnight belongs to the day it opens; ranges wrap over the week end', () => {
    const night: RunWindow = { allow: ['fri-sun 22:00-02:00'] };
    // Saturday 01:00 UTC: Friday's night, open. Monday 01:00: Sunday's night, open; Monday 03:00
    // waits for Friday 22:00.
    assert.equal(opens(night, '2026-12-12T01:00:00Z'), 'open');
    assert.equal(opens(night, '2026-12-14T01:00:00Z'), 'open');
    assert.equal(opens(night, '2026-12-14T03:00:00Z'), '2026-12-18T22:00:00.000Z');
    assert.equal(
      opens({ allow: ['sat,sun 00:00-24:00'] }, '2026-12-11T23:59:00Z'),
      '2026-12-12T00:00:00.000Z',
    );
  });

  it('refuses what it cannot read, naming it', () => {
    const refused = (w: unknown) =>
      RotateInput.safeParse({ environments: ['prod'], window: w }).error?.issues.map(
        (i) => `${i.path.join('.')}: ${i.message}`,
      );
    assert.match(String(refused({ allow: ['weekdays 9-5'] })), /window\.allow\.0: days and hours such as/);
    // A misspelt day in a range is refused, not looped over.
    assert.match(
      String(refused({ allow: ['mon-fri2 09:00-17:00'] })),
      /window\.allow\.0: days and hours such as/,
    );
    assert.match(
      String(refused({ allow: ['mon-xyz 09:00-17:00'] })),
      /window\.allow\.0: days and hours such as/,
    );
    assert.match(String(refused({ allow: ['mon 09:00-09:00'] })), /opens and closes at the same time/);
    assert.match(String(refused({ allow: ['mon 09:00-17:00'], timeZone: 'Mars/Olympus' })), /IANA time zone/);
    assert.match(String(refused({ allow: [], outside: 'wait' })), /window\.allow/);
  });
});

describe('a run outside its window (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await timeSkipping();
  });
  after(() => env?.teardown());

  /** The rotation's activities; `planned` records the server's clock when the plan was asked for. */
  function activities(planned: number[]) {
    return mocks(false, {
      planRotation: async () => {
        planned.push(Context.current().info.currentAttemptScheduledTimestampMs);
        return plan(false);
      },
      retireOldKeys: async () => ({ removedBackups: [], disabledVersions: [] }),
    });
  }

  /** A window that opens an hour after the server's clock now, for an hour, every day. */
  async function laterToday(outside: 'wait' | 'skip'): Promise<{ window: RunWindow; opensAt: number }> {
    const now = await env.currentTimeMs();
    const opensAt = Math.ceil((now + 3600_000) / 60_000) * 60_000;
    const hhmm = (t: number) => iso(t).slice(11, 16);
    const closes = opensAt + 3600_000;
    // Not across midnight UTC: the test moves to an earlier window there.
    const span = hhmm(closes) > hhmm(opensAt) ? `${hhmm(opensAt)}-${hhmm(closes)}` : '00:10-01:00';
    const window: RunWindow = { allow: [`sun-sat ${span}`], timeZone: 'UTC', outside };
    const w = windowAt(window, now);
    assert.equal(w.open, false);
    return { window, opensAt: w.open ? now : w.opensAt };
  }

  it('waits, visibly and durably, until its window opens, then rotates inside it', async () => {
    const planned: number[] = [];
    const { calls, activities: acts } = activities(planned);
    const { window, opensAt } = await laterToday('wait');
    const result = await withWorker(env, acts, async (taskQueue) => {
      const h = await env.client.workflow.start(rotateJwtKeys, {
        taskQueue,
        workflowId: 'window-wait',
        args: [{ environments: ['prod'], window }],
      });
      // Time stands still while the test is not awaiting a result: the wait is seen.
      const step = await until(
        'the wait for the window',
        async () =>
          (await h.query(progressQuery)).steps.find((s) => s.name === 'window' && s.status === 'running'),
        { everyMs: 50 },
      );
      assert.match(
        step.detail ?? '',
        new RegExp(`waiting until it opens at ${iso(opensAt).replace(/\./g, '\\.')}`),
      );
      assert.deepEqual(calls, [], 'nothing read or changed before the window opens');
      return h.result();
    });
    assert.equal(result.ok, true);
    assert.equal(result.skipped, undefined);
    assert.ok(calls.includes('installKeyFiles'), calls.join());
    assert.ok(planned[0] !== undefined && planned[0] >= opensAt, `planned at ${iso(planned[0] ?? 0)}`);
    assert.equal(windowAt(window, planned[0] as number).open, true);
  });

  it('told to skip, plans as a dry run, changes nothing and says why', async () => {
    const { calls, activities: acts } = activities([]);
    const { window } = await laterToday('skip');
    const { result, steps } = await withWorker(env, acts, async (taskQueue) => {
      const h = await env.client.workflow.start(rotateJwtKeys, {
        taskQueue,
        workflowId: 'window-skip',
        args: [{ environments: ['prod'], window }],
      });
      return { result: await h.result(), steps: (await h.query(progressQuery)).steps };
    });
    assert.equal(result.dryRun, true);
    assert.match(result.skipped ?? '', /^started outside its window sun-sat .* \(UTC\): skipped/);
    assert.deepEqual(calls, ['planRotation']);
    assert.equal(steps.find((s) => s.name === 'window')?.status, 'skipped');
  });
});
