// Reading a service's output: the lines a log gained since a point, the publish markers in it, and
// what may be shown of it in an error (tokens and keys cut out, the guide's two failures explained).

/** The last `n` lines of `text`, on one line. */
export function lastLines(text: string, n = 5): string {
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
