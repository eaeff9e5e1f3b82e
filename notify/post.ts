// One HTTP POST of a notification, bounded in time; anything but a 2xx is a failed attempt (the
// activity is retried). The error names the sink and the status, never the URL (Slack's is a
// credential) or the body.
export async function postJson(
  sink: string,
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new Error(`sink ${sink}: the receiver did not answer (${cause})`);
  }
  const text = await res.text().catch(() => '');
  if (!res.ok)
    throw new Error(`sink ${sink}: the receiver answered ${res.status} ${text.slice(0, 120)}`.trim());
}
