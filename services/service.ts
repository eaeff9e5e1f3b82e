// The service on a host (SpacetimeDB): restart, stop, start, logs, publish, and the publish gate
// read from its log markers. Two drivers: docker compose, and a plain command set (systemd, helm…).
import { parseDuration } from '../config/duration';
import type { ServiceConfig } from '../config/schema';
import { shellQuote } from '../hosts/shell';
import type { ExecResult, Host } from '../hosts/types';
import { FailureType, fail } from '../shared/failures';
import { beat, heartbeating } from './heartbeat';

export interface MarkerWait {
  /** Log text already seen before the action: markers in it don't count. */
  baseline?: string;
  /** Output of the publish command, scanned before the logs. */
  extra?: string;
  timeoutMs?: number;
  pollMs?: number;
  heartbeat?: (details: unknown) => void;
}

export interface ServiceDriver {
  /** A restart starts a fresh log (a recreated container), so no old marker can be seen. */
  readonly freshLogOnRestart: boolean;
  /** Recreates the service so it reads the key files again (keys load only at start). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  logs(): Promise<string>;
  /** Runs the configured publish command; null when none is configured. A non-zero exit fails
   * (PublishFailed) whatever the logs say: a container's own start may print a success marker. */
  publish(): Promise<ExecResult | null>;
  waitForMarkers(opts: MarkerWait): Promise<{ marker: string; line: string }>;
}

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

function lastLines(text: string, n = 5): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

/**
 * The lines of `after` that were not in `before`, for logs that only grow at the end but may be
 * shown as a window of their last lines (journalctl -n, tail): `after` is then a suffix of
 * `before` followed by the new lines. The longest such overlap is taken; none means all is new.
 */
export function linesAfter(before: string, after: string): string {
  const b = before.split('\n');
  const a = after.split('\n');
  if (b.at(-1) === '') b.pop();
  for (let j = 0; j < b.length; j++) {
    const tail = b.slice(j);
    if (tail.length <= a.length && tail.every((line, i) => a[i] === line))
      return a.slice(tail.length).join('\n');
  }
  return after;
}

/** Tokens and keys cut out of command output shown in an error: a JWT (three base64url parts,
 * the first a JSON header) and a PEM block. */
export function redactValues(text: string): string {
  return (
    text
      .replace(/eyJ[\w-]*\.[\w-]+\.[\w-]*/g, '[token]')
      .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g, '[key]')
      // A key's body without its BEGIN line (a cut log): long base64 runs that mix upper and
      // lower case and digits (hex identities and paths are left readable).
      .replace(/[A-Za-z0-9+/]{40,}={0,2}/g, (run) =>
        /[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run) ? '[base64]' : run,
      )
  );
}

/** What a failed publish means and what to do next, for the two failures the guide names. */
export function publishHint(text: string): string {
  // 403 first: the guide's entrypoint calls a 403 "publish_unauthorized".
  if (/not authorized|\b403\b|Forbidden|publish_unauthorized/i.test(text))
    return " (403: the token's identity does not own the database: it was re-signed with another identity, or replaced; see docs/rotate.md's strategies)";
  if (/InvalidSignature|\b401\b|\bUnauthorized\b/.test(text))
    return " (401: the server's key and the token's signature disagree: run `rekey verify`)";
  return '';
}

/** The first line holding a failure or success marker, failures first. */
export function findMarker(
  text: string,
  markers: { success: string[]; failure: string[] },
): { kind: 'success' | 'failure'; marker: string; line: string } | null {
  for (const line of text.split('\n')) {
    const failure = markers.failure.find((m) => line.includes(m));
    if (failure) return { kind: 'failure', marker: failure, line: line.trim() };
    const success = markers.success.find((m) => line.includes(m));
    if (success) return { kind: 'success', marker: success, line: line.trim() };
  }
  return null;
}

export function createServiceDriver(host: Host, cfg: ServiceConfig): ServiceDriver {
  const commands =
    cfg.driver === 'compose'
      ? (() => {
          const base = `docker compose -f ${shellQuote(cfg.composeFile)}`;
          const svc = shellQuote(cfg.service);
          return {
            restart: `${base} up -d --force-recreate ${svc}`,
            stop: `${base} stop ${svc}`,
            start: `${base} up -d ${svc}`,
            logs: `${base} logs --no-color --tail=${cfg.logTail} ${svc}`,
          };
        })()
      : { restart: cfg.restart, stop: cfg.stop, start: cfg.start, logs: cfg.logs };

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
    freshLogOnRestart: cfg.driver === 'compose',
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

/**
 * Read-only checks of a service before a run changes anything: for compose, `docker compose
 * config --quiet` (the file parses, the service is there, docker answers); every program the
 * configured commands start (the publish command's first) exists on the host. Each problem names
 * the host and what to fix.
 */
export async function serviceProblems(host: Host, cfg: ServiceConfig): Promise<string[]> {
  const problems: string[] = [];
  const commands =
    cfg.driver === 'compose'
      ? { publish: cfg.publish }
      : { start: cfg.start, stop: cfg.stop, restart: cfg.restart, logs: cfg.logs, publish: cfg.publish };
  if (cfg.driver === 'compose') {
    const check = `docker compose -f ${shellQuote(cfg.composeFile)} config --quiet`;
    const res = await host.exec(check, { cwd: host.appDir, timeoutMs: 60_000 });
    if (res.code === 127) problems.push(`host ${host.name}: docker is not installed (${check})`);
    else if (res.code !== 0)
      problems.push(
        `host ${host.name}: ${check} failed (exit ${res.code}): ${lastLines(res.stderr || res.stdout, 3)}`,
      );
    else {
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
        problems.push(`host ${host.name}: ${cfg.composeFile} has no service "${cfg.service}"`);
    }
  }
  const programs = [...new Set(Object.values(commands).flatMap((c) => (c ? [programOf(c)] : [])))].filter(
    (p): p is string => !!p,
  );
  if (programs.length > 0) {
    const res = await host.exec(
      `for p in ${programs.map(shellQuote).join(' ')}; do command -v "$p" >/dev/null 2>&1 || echo "$p"; done`,
      { cwd: host.appDir },
    );
    for (const missing of res.stdout.split('\n').filter(Boolean)) {
      const which = Object.entries(commands).find(([, c]) => c && programOf(c) === missing)?.[0];
      problems.push(
        `host ${host.name}: the ${which} command's program "${missing}" is not found (command -v ${missing})`,
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
