// The service on a host (SpacetimeDB): restart, stop, start, logs, publish, and the publish gate
// read from its log markers, whatever its driver (kinds.ts: docker compose, or a plain command set).
import { parseDuration } from '../config/duration';
import type { ServiceConfig } from '../config/schema';
import { shellQuote } from '../hosts/shell';
import type { ExecResult, Host } from '../hosts/types';
import { FailureType, fail } from '../shared/failures';
import { beat, heartbeating } from './heartbeat';
import { serviceKind } from './kinds';
import { findMarker, lastLines, linesAfter, publishHint, redactValues } from './markers';
import type { ServiceDriver } from './types';

export function durationMs(d: string): number {
  try {
    return parseDuration(d);
  } catch (err) {
    throw fail(FailureType.BadInput, (err as Error).message);
  }
}

/** What docker prints when its daemon does not answer (a transient state, unlike a bad command). */
const DAEMON_DOWN =
  /Cannot connect to the Docker daemon|Is the docker daemon running\?|error during connect/i;

export function createServiceDriver(host: Host, cfg: ServiceConfig): ServiceDriver {
  const kind = serviceKind(cfg);
  const commands = kind.commands(cfg as never);

  async function run(what: keyof typeof commands): Promise<ExecResult> {
    const res = await host.exec(commands[what], { cwd: host.appDir });
    if (res.code !== 0 && DAEMON_DOWN.test(`${res.stderr}\n${res.stdout}`)) {
      // A daemon restarting or briefly unreachable: retried by the activity's retry policy.
      throw new Error(
        `host ${host.name}: ${what}: the docker daemon does not answer: ${lastLines(res.stderr || res.stdout)}`,
      );
    }
    if (res.code !== 0) {
      throw fail(
        FailureType.CommandFailed,
        `host ${host.name}: ${what} failed (exit ${res.code}): ${commands[what]}: ${lastLines(res.stderr || res.stdout)}`,
      );
    }
    return res;
  }

  return {
    freshLogOnRestart: kind.freshLogOnRestart,
    async restart() {
      await run('restart');
    },
    async stop() {
      await run('stop');
    },
    async start() {
      await run('start');
    },
    async logs() {
      return (await run('logs')).stdout;
    },
    async publish() {
      if (!cfg.publish) return null;
      const res = await host.exec(cfg.publish, {
        cwd: host.appDir,
        timeoutMs: durationMs(cfg.markerTimeout),
      });
      if (res.code !== 0) {
        const output = lastLines(redactValues(`${res.stdout}\n${res.stderr}`), 8).slice(-600);
        throw fail(
          FailureType.PublishFailed,
          `host ${host.name}: the publish command exited ${res.code}: ${redactValues(cfg.publish)}: ${output || '(no output)'}${publishHint(output)}`,
        );
      }
      return res;
    },
    async waitForMarkers(opts) {
      const timeoutMs = opts.timeoutMs ?? durationMs(cfg.markerTimeout);
      const deadline = Date.now() + timeoutMs;
      const fromPublish = opts.extra ? findMarker(opts.extra, cfg.markers) : null;
      for (;;) {
        let found = fromPublish;
        if (!found) {
          let logs = (await run('logs')).stdout;
          if (opts.baseline !== undefined) logs = linesAfter(opts.baseline, logs);
          found = findMarker(logs, cfg.markers);
        }
        if (found?.kind === 'failure') {
          throw fail(
            FailureType.PublishFailed,
            `host ${host.name}: ${redactValues(found.line)}${publishHint(found.line)}`,
          );
        }
        if (found) return { marker: found.marker, line: found.line };
        if (Date.now() > deadline) {
          throw fail(
            FailureType.MarkerTimeout,
            `host ${host.name}: no ${cfg.markers.success.join('/')} within ${cfg.markerTimeout}`,
          );
        }
        opts.heartbeat?.({ waitingFor: cfg.markers.success });
        await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
      }
    },
  };
}

/** The program a configured command line starts (after any VAR=value prefixes), or undefined
 * when it starts with something the shell itself resolves (a keyword or a path that `command -v`
 * checks as well). */
export function programOf(command: string): string | undefined {
  // VAR=value prefixes (a quoted value may hold spaces), then the first word.
  const m = /^\s*((?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|"[^"]*"|\S*)\s+)*)([^\s;&|()<>]+)/.exec(command);
  // An assignment that runs something ($(...), backquotes) is the shell's to read.
  if (m?.[1] && /\$\(|`/.test(m[1])) return undefined;
  const word = m?.[2];
  // Quotes, ~ or $ need the shell's own expansion to name the program: not checked here.
  return word && !/['"~$`\\]/.test(word) ? word : undefined;
}

/** Of `programs`, those `command -v` in the host's shell from its app dir does not find: told
 * by the host where it can without a shell (this machine), else by its shell. */
async function missingPrograms(host: Host, programs: string[]): Promise<string[]> {
  if (host.missingPrograms) return host.missingPrograms(programs, host.appDir);
  const res = await host.exec(
    `for p in ${programs.map(shellQuote).join(' ')}; do command -v "$p" >/dev/null 2>&1 || echo "$p"; done`,
    { cwd: host.appDir },
  );
  return res.stdout.split('\n').filter(Boolean);
}

/**
 * Read-only checks of a service before a run changes anything: for compose, `docker compose
 * config --quiet` (the file parses, the service is there, docker answers); every program the
 * configured commands start (the publish command's first) exists on the host. Each problem names
 * the host and what to fix.
 */
export async function serviceProblems(host: Host, cfg: ServiceConfig): Promise<string[]> {
  const kind = serviceKind(cfg);
  const problems = await kind.problems(host, cfg as never);
  const commands = kind.configured(cfg as never);
  const programs = [...new Set(Object.values(commands).flatMap((c) => (c ? [programOf(c)] : [])))].filter(
    (p): p is string => !!p,
  );
  if (programs.length > 0) {
    for (const program of await missingPrograms(host, programs)) {
      const which = Object.entries(commands).find(([, c]) => c && programOf(c) === program)?.[0];
      problems.push(
        `host ${host.name}: the ${which} command's program "${program}" is not found (command -v ${program})`,
      );
    }
  }
  return problems;
}

/**
 * Restarts the service so it loads its key files, runs the publish command (not for a keyring
 * replica, which only reloads its keys), and waits for the markers of this restart (older log
 * lines never count). Heartbeats all along: a slow restart or publish is alive, a lost worker is
 * noticed within the heartbeat timeout.
 */
export async function restartAndCheck(
  service: ServiceDriver,
  opts: { publish: boolean } = { publish: true },
): Promise<{ marker: string; line: string }> {
  return heartbeating(async () => {
    // No baseline, no way to tell old markers from new: a failed read fails (and is retried).
    const baseline = service.freshLogOnRestart ? undefined : await service.logs();
    await service.restart();
    beat('restarted');
    const published = opts.publish ? await service.publish() : null;
    return service.waitForMarkers({
      heartbeat: beat,
      ...(baseline === undefined ? {} : { baseline }),
      ...(published ? { extra: `${published.stdout}\n${published.stderr}` } : {}),
    });
  });
}
