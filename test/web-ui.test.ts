// The Temporal Web UI as rekey's console, driven in a real browser (Debian's chromium through
// playwright-core): start a promotion from the Start Workflow page with one JSON input, read the
// gate's plan in the run's current details, approve with an Update whose signature ssh-keygen
// made, see a forged approval refused, and a run started with bad input fail naming the field.
// Every step leaves a screenshot in <test root>/artifacts/web-ui/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tokenIdentity } from '../activities/tokens';
import { progressQuery } from '../workflows/messages';
import { historyText, type TemporalFixture, temporalFixture } from './helpers';
import { approversConfig, sign } from './infra/approvers';
import { openUi, startFromUi as startOnUi, type UiSession, uiUrl } from './infra/browser';
import { portOf } from './infra/ports';
import {
  buildTopology,
  cliToken,
  dataManifest,
  onHost,
  type Seeded,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';
import { until } from './infra/until';

const NAMESPACE = 'web-ui';

describe('the Web UI as console', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let seeded: Seeded;
  let ui: UiSession;
  const shot = (name: string) => ui.shot(name);

  before(async () => {
    fx = await temporalFixture(NAMESPACE);
    t = buildTopology('web-ui', portOf('web-ui'), {
      approvals: { requiredFor: ['test'], approvers: approversConfig(['alice', 'bob']), timeout: '1h' },
    });
    seeded = await seed(t);
    // prod's data, and test's own: one file of three (stale.bin) is deleted by the promotion.
    await onHost(t, 'prod', (h) =>
      h.exec(
        `cd ${h.dataDir} && mkdir -p db && for i in 1 2 3; do echo prod-$i > db/segment-$i.bin; done && find . -exec touch -h -d '2026-01-01 00:00:00' {} +`,
      ),
    );
    await onHost(t, 'test', (h) =>
      h.exec(`cd ${h.dataDir} && mkdir -p db && echo test-1 > db/segment-1.bin && echo old > db/stale.bin`),
    );
    ui = await openUi('web-ui');
  });
  after(async () => {
    await ui?.close();
    await stopServices(t);
    await fx.close();
  });

  const startFromUi = (workflowId: string, workflowType: string, input: unknown) =>
    startOnUi(ui, NAMESPACE, { workflowId, taskQueue: fx.taskQueue, workflowType, input }, (id) =>
      fx.client.workflow.getHandle(id).describe(),
    );
  const pageText = () => ui.text();

  const workflowPage = async (workflowId: string) => {
    const { runId } = await fx.client.workflow.getHandle(workflowId).describe();
    await ui.page.goto(`${uiUrl(NAMESPACE)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`, {
      waitUntil: 'load',
    });
  };

  /** Sends an Update from the workflow page's More Actions menu with `input` as its JSON; returns
   * what the UI said (the dialog's error, or its confirmation). */
  async function updateFromUi(name: string, input: unknown): Promise<string> {
    await ui.page.getByRole('button', { name: 'More Actions' }).filter({ visible: true }).first().click();
    await ui.page.getByTestId('update-button').filter({ visible: true }).first().click();
    const dialog = ui.page
      .locator('dialog[open], [role=dialog]')
      .filter({ hasText: 'Send an Update' })
      .last();
    await shot(`update-${name}-dialog`);
    await dialog.getByTestId('update-select-button').click();
    await shot(`update-${name}-select`);
    await ui.page
      .getByRole('option', { name: new RegExp(`^${name}`) })
      .first()
      .click();
    const editor = dialog.locator('.cm-content').first();
    await editor.click();
    await editor.fill(JSON.stringify(input));
    // As on the start page: leaving the editor reformats the JSON and moves the button.
    await dialog.getByText('Data', { exact: true }).click();
    await shot(`update-${name}-filled`);
    await dialog.getByTestId('confirm-modal-button').click();
    // Accepted: the dialog closes. Refused: it stays open showing the validator's message.
    const outcome = await until(
      'the UI to answer the Update',
      async () => {
        if (!(await dialog.isVisible())) return 'accepted';
        const refusal = /Error: (.+)/.exec(
          (await dialog.textContent({ timeout: 1000 }).catch(() => '')) ?? '',
        )?.[1];
        return refusal ? `refused: ${refusal}` : undefined;
      },
      { timeoutMs: 60_000 },
    );
    await shot(`update-${name}-${outcome.split(':')[0]}`);
    if (outcome !== 'accepted') await dialog.getByRole('button', { name: 'Cancel' }).last().click();
    return outcome;
  }

  it('starts a promotion, shows its gate, refuses a forged approval and passes a signed one', async () => {
    const before = await dataManifest(t, 'prod');
    assert.notEqual(await dataManifest(t, 'test'), before, 'test starts with its own data');
    await fx.withWorker(t.config, async () => {
      await startFromUi('promote/prod..test', 'promote', { chain: ['prod', 'test'] });
      const hopId = 'promote/prod..test/prod..test';
      const hop = fx.client.workflow.getHandle(hopId);
      const gate = await until(
        'the hop to wait at its gate',
        async () => (await hop.query(progressQuery)).pendingGate,
        {
          timeoutMs: 60_000,
        },
      );
      const digest = gate.digest ?? '';

      await workflowPage(hopId);
      await ui.page.getByText('User Metadata', { exact: true }).click();
      const details = await until('the current details to show the gate', async () => {
        const text = await pageText();
        return text.includes('Waiting for approval: approval') ? text : undefined;
      });
      assert.ok(details.includes(digest), 'the page shows the plan digest');
      assert.match(details, /prod -> test: add \d+, change \d+, DELETE 1 \(db\/stale\.bin\)/);
      assert.match(
        details,
        /rekey approve promote\/prod\.\.test\/prod\.\.test --by NAME --digest sha256:[0-9a-f]{16}/,
      );
      await shot('gate');

      // bob signs, claiming to be alice: the worker checks alice's configured key and refuses.
      const forged = await updateFromUi('approve', {
        by: 'alice',
        digest,
        signature: sign('bob', `approve ${digest}`),
      });
      assert.match(forged, /^refused: alice's signature is refused: signed by another key/);
      assert.equal((await hop.query(progressQuery)).state, 'waiting-approval', 'still waiting');

      const ok = await updateFromUi('approve', {
        by: 'alice',
        digest,
        signature: sign('alice', `approve ${digest}`),
        comment: 'from the Web UI',
      });
      assert.equal(ok, 'accepted');
      await fx.client.workflow.getHandle('promote/prod..test').result();
      // The hop's event history reads as the runbook: activities and timers carry summaries.
      const events = await historyText(fx.client, hopId);
      for (const step of [
        'approval: waiting for 1 approval(s)',
        'stop test',
        "snapshot test's data dir",
        'copy: rsync prod -> test',
        'start test and publish',
      ])
        assert.ok(events.includes(step), `the history names "${step}"`);
      await workflowPage('promote/prod..test');
      await ui.page
        .getByText(/completed/i)
        .first()
        .waitFor({ timeout: 30_000 });
      await shot('promotion-completed');
    });
    assert.equal(await dataManifest(t, 'test'), before, 'test holds prod data');
    const token = await cliToken(t, 'test');
    assert.deepEqual(tokenIdentity(token), tokenIdentity(seeded.tokens.prod), "prod's publisher identity");
    assert.equal((await whoami(t, 'test', token)).status, 200, 'test accepts it, re-signed with its key');
  });

  it('a run started from the UI with bad input shows as failed, naming the field', async () => {
    await fx.withWorker(t.config, async () => {
      await startFromUi('rotate-jwt/from-ui', 'rotateJwtKeys', { environments: 'prod' });
      await until('the run to fail', async () => {
        const { status } = await fx.client.workflow.getHandle('rotate-jwt/from-ui').describe();
        return status.name === 'FAILED' || undefined;
      });
      await workflowPage('rotate-jwt/from-ui');
      await ui.page
        .getByText(/bad input: environments/)
        .first()
        .waitFor({ timeout: 30_000 });
      await shot('bad-input-failed');
    });
  });
});
