// docker compose as a service driver: the guide's `up -d --force-recreate` restart (a new container,
// so a fresh log), and its read-only checks (the file parses, docker answers, the service is there).
import { shellQuote } from '../hosts/shell';
import type { Host } from '../hosts/types';
import { lastLines } from './markers';
import type { ServiceKind } from './types';

export const compose: ServiceKind<'compose'> = {
  freshLogOnRestart: true,
  commands: (cfg) => {
    const base = `docker compose -f ${shellQuote(cfg.composeFile)}`;
    const svc = shellQuote(cfg.service);
    return {
      restart: `${base} up -d --force-recreate ${svc}`,
      stop: `${base} stop ${svc}`,
      start: `${base} up -d ${svc}`,
      logs: `${base} logs --no-color --tail=${cfg.logTail} ${svc}`,
    };
  },
  // rekey writes the compose command lines itself: only the publish command is the config's.
  configured: (cfg) => ({ publish: cfg.publish }),
  async problems(host: Host, cfg) {
    const check = `docker compose -f ${shellQuote(cfg.composeFile)} config --quiet`;
    const res = await host.exec(check, { cwd: host.appDir, timeoutMs: 60_000 });
    if (res.code === 127) return [`host ${host.name}: docker is not installed (${check})`];
    if (res.code !== 0)
      return [
        `host ${host.name}: ${check} failed (exit ${res.code}): ${lastLines(res.stderr || res.stdout, 3)}`,
      ];
    const listed = await host.exec(`docker compose -f ${shellQuote(cfg.composeFile)} config --services`, {
      cwd: host.appDir,
      timeoutMs: 60_000,
    });
    if (
      listed.code === 0 &&
      !listed.stdout
        .split('\n')
        .map((l) => l.trim())
        .includes(cfg.service)
    )
      return [`host ${host.name}: ${cfg.composeFile} has no service "${cfg.service}"`];
    return [];
  },
};
