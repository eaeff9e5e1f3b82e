// Fault injection in front of moto_server: a proxy that answers chosen AWS JSON operations with
// the error AWS sends (ThrottlingException, AccessDeniedException) a given number of times, and
// forwards everything else. moto has no throttling of its own; the errors' wire shape is AWS's.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudTrailStandIn, LOOKUP_TARGET } from '../standin/cloudtrail';

export interface AwsFaults {
  endpoint: string;
  /** The next `times` calls of `operation` (e.g. "PutParameter") fail with `error`. */
  inject(operation: string, error: 'ThrottlingException' | 'AccessDeniedException', times?: number): void;
  /** Calls per operation that reached this proxy, failed or forwarded. */
  calls: Record<string, number>;
  /** Faults returned so far. */
  injected: number;
  /** The CloudTrail stand-in at the same endpoint: every SSM call that passed, as events. */
  trail: CloudTrailStandIn;
  close(): Promise<void>;
}

export async function awsFaults(target: string, region = 'us-east-1'): Promise<AwsFaults> {
  const trail = new CloudTrailStandIn(region);
  const queue: { operation: string; error: string; left: number }[] = [];
  const calls: Record<string, number> = {};
  const state = { injected: 0 };
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const operation =
        String(req.headers['x-amz-target'] ?? '')
          .split('.')
          .pop() ?? '';
      calls[operation] = (calls[operation] ?? 0) + 1;
      const fault = queue.find((f) => f.operation === operation && f.left > 0);
      if (fault) {
        fault.left--;
        state.injected++;
        const message =
          fault.error === 'ThrottlingException'
            ? 'Rate exceeded'
            : 'User is not authorized to perform: ssm:' + operation;
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': fault.error });
        res.end(JSON.stringify({ __type: fault.error, message }));
        return;
      }
      if (String(req.headers['x-amz-target'] ?? '').endsWith(LOOKUP_TARGET)) {
        const [status, body] = trail.lookup(Buffer.concat(chunks));
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          ...(status === 200 ? {} : { 'x-amzn-errortype': String(body.__type) }),
        });
        res.end(JSON.stringify(body));
        return;
      }
      trail.record(req, Buffer.concat(chunks));
      const out = request(
        { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on('error', () => res.writeHead(502).end());
      out.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    inject: (operation, error, times = 1) => queue.push({ operation, error, left: times }),
    calls,
    trail,
    get injected() {
      return state.injected;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
