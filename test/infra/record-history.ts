// Saves the history of a finished run for the replay test:
//   node dist/test/infra/record-history.js <workflowId> test/histories/<name>.json [namespace]
// Run it with the test servers up (test/infra/with-servers.sh) after a run worth keeping; check
// the file holds no secret (the rotation tests assert that for every history they make).
import { writeFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { testEnv } from './env';

async function main() {
  const [workflowId, out, namespace = 'rotate'] = process.argv.slice(2);
  if (!workflowId || !out) throw new Error('usage: record-history <workflowId> <file> [namespace]');
  const connection = await Connection.connect({ address: testEnv().temporal.address });
  try {
    const history = await new Client({ connection, namespace }).workflow.getHandle(workflowId).fetchHistory();
    // The id too: a run's path may depend on it (a secret rotation under its CLI id is its lock).
    const json = JSON.stringify({ workflowId, ...JSON.parse(historyToJSON(history)) });
    writeFileSync(out, `${json}\n`);
    console.log(`${out}: ${history.events?.length} events`);
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
