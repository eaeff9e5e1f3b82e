// Human-readable output for the CLI. Only non-secret facts ever reach these functions.
import type { VerifyReport } from '../activities/key-policy';
import type { HopResult } from '../workflows/hop-plan';
import type { Progress } from '../workflows/messages';
import type { RotateResult } from '../workflows/rotate';

const short = (fp: string | null | undefined) => (fp ? fp.slice(0, 16) : 'none');

export function formatProgress(p: Progress): string {
  const lines = [`${p.workflow}: ${p.state}${p.current ? ` (at ${p.current})` : ''}`];
  for (const s of p.steps)
    lines.push(`  [${s.status.padEnd(7)}] ${s.name}${s.detail ? `: ${s.detail}` : ''}`);
  if (p.pendingGate) {
    const g = p.pendingGate;
    const who = `${g.required ?? 1} of ${g.approvers.join(', ')}${g.mode ? ` (${g.mode})` : ''}`;
    lines.push(
      g.kind === 'expedite'
        ? `waiting until ${g.timeoutAt}; ${who} may end the wait early`
        : `waiting for approval by ${who} until ${g.timeoutAt}${g.approvedBy?.length ? `; approved so far by ${g.approvedBy.join(', ')}` : ''}`,
    );
    lines.push(`  plan: ${g.summary.replace(/\n/g, '\n        ')}`);
    if (g.digest) lines.push(`  digest: ${g.digest}`);
    if (g.starter) lines.push(`  started by ${g.starter}, who may not approve it`);
  }
  if (p.supply)
    lines.push(
      `waiting until ${p.supply.until} for a new value issued at ${p.supply.issuer}: ${p.supply.command} (reads it from stdin)`,
    );
  for (const d of p.decisions) {
    lines.push(
      `  ${d.decision} by ${d.by} at ${d.at}${d.accepted ? '' : ' (ignored: not an approver)'}${d.signature ? ' (signature verified)' : ''}${d.comment ? `: ${d.comment}` : ''}`,
    );
  }
  return lines.join('\n');
}

export function formatRotateResult(r: RotateResult): string {
  const lines: string[] = [];
  if (r.plan.added.length > 0) lines.push(`also rotated (same key group): ${r.plan.added.join(', ')}`);
  for (const e of r.plan.environments) {
    const token = e.token ? `token iss=${e.token.iss} sub=${e.token.sub}` : 'no token re-signed';
    lines.push(
      `plan ${e.env}: group ${e.group}, store ${e.store} (current ${short(e.current?.fingerprint)}), host ${e.host}, ${token}`,
    );
  }
  for (const o of r.environments) {
    switch (o.status) {
      case 'rotated':
        lines.push(
          `${o.env}: ${r.installOnly ? 'installed' : 'rotated'} ${short(o.fingerprintBefore)} -> ${short(o.fingerprintAfter)}` +
            (o.identity ? `; identity kept iss=${o.identity.iss} sub=${o.identity.sub}` : ''),
        );
        break;
      case 'rolled-back':
        lines.push(
          `${o.env}: ROLLED BACK to ${short(o.fingerprintBefore)} (${o.reason}); restored ${o.restored.join(', ')}`,
        );
        break;
      case 'rollback-failed':
        lines.push(`${o.env}: FAILED (${o.reason}) and rollback failed: ${o.rollbackError}`);
        break;
      case 'untouched':
        lines.push(`${o.env}: untouched (${o.reason})`);
        break;
    }
  }
  lines.push(
    r.dryRun
      ? 'dry run: nothing was changed'
      : r.ok
        ? 'rotation complete'
        : 'rotation finished with failures',
  );
  return lines.join('\n');
}

export function formatVerify(r: VerifyReport): string {
  const lines = r.rows.map(
    (row) =>
      `${row.env.padEnd(8)} group ${row.group.padEnd(8)} store ${short(row.fingerprint)}` +
      (row.hostFingerprint !== undefined ? `  host ${short(row.hostFingerprint)}` : ''),
  );
  for (const p of r.problems) lines.push(`problem: ${p}`);
  lines.push(r.ok ? 'ok: pairs match, policy holds' : `${r.problems.length} problem(s)`);
  return lines.join('\n');
}

export function formatHops(hops: HopResult[]): string {
  return hops
    .map((h) => {
      const p = h.plan;
      const plan = `${h.from} -> ${h.to}: add ${p.add}, change ${p.change}, delete ${p.delete}${p.deletions.length ? ` (${p.deletions.join(', ')})` : ''}, ${p.bytes} bytes`;
      if (h.dryRun) return `${plan} (dry run: nothing changed)`;
      const parts = [
        h.copied
          ? `copied ${h.copied.bytes} bytes`
          : `nothing to copy (${h.to} held ${h.from}'s data${(h.notCopied?.tokenFile ?? p.tokenOnly) ? ', but for the token file' : ''})`,
        ...(h.finalPass
          ? [`final pass ${h.finalPass.bytes} bytes with ${h.from} stopped for ${h.sourceDowntimeMs} ms`]
          : []),
        `token iss=${h.identity?.iss} sub=${h.identity?.sub}`,
        `${h.marker}`,
      ];
      return `${plan}; ${parts.join('; ')}`;
    })
    .join('\n');
}
