// What `rekey verify` and a rotation's own check report: each environment's pair in its store (and
// on its host), and the key policy over them: one key per key group, no key shared by two groups.

export interface VerifyRow {
  env: string;
  group: string;
  fingerprint: string | null;
  hostFingerprint?: string | null;
  problem?: string;
  /** The guide's checklist on the host, the stored values and the service (verify only). */
  findings?: string[];
}

export interface VerifyReport {
  rows: VerifyRow[];
  problems: string[];
  ok: boolean;
}

/** One fingerprint per key group; no two groups share one. With `scope`, only problems that
 * concern those environments (their rows, their groups) are reported. */
export function policyProblems(rows: VerifyRow[], scope?: string[]): string[] {
  const inScope = (r: VerifyRow) => !scope || scope.includes(r.env);
  const groupsInScope = new Set(rows.filter(inScope).map((r) => r.group));
  const problems = rows.filter((r) => r.problem && inScope(r)).map((r) => `${r.env}: ${r.problem}`);
  const byGroup = new Map<string, Set<string>>();
  for (const r of rows) {
    if (!r.fingerprint) {
      if (!r.problem && inScope(r)) problems.push(`${r.env}: no key pair in its store`);
      continue;
    }
    const set = byGroup.get(r.group) ?? new Set();
    set.add(r.fingerprint);
    byGroup.set(r.group, set);
  }
  for (const [group, fps] of byGroup) {
    if (fps.size > 1 && groupsInScope.has(group)) {
      const members = rows
        .filter((r) => r.group === group)
        .map((r) => `${r.env}=${r.fingerprint?.slice(0, 12)}`);
      problems.push(`key group ${group}: environments hold different keys (${members.join(', ')})`);
    }
  }
  const owner = new Map<string, string>();
  for (const [group, fps] of byGroup) {
    for (const fp of fps) {
      const other = owner.get(fp);
      if (other && other !== group && (groupsInScope.has(group) || groupsInScope.has(other)))
        problems.push(`key groups ${other} and ${group} share key ${fp.slice(0, 12)}`);
      owner.set(fp, group);
    }
  }
  return problems;
}
