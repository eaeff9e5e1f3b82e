// A real Kubernetes control plane for one suite (built by build-kubernetes.sh into the cache):
// etcd, kube-apiserver (TLS with a CA made here, static bearer tokens, RBAC),
// kube-controller-manager (deployments, replica sets, service accounts) and kwok, the Kubernetes
// SIG's node simulator standing in for a kubelet (no container runtime here): a Deployment's pods
// are created, scheduled to a kwok node by nodeName and reported Running and Ready, so
// `kubectl rollout restart` and `rollout status` work as on a cluster, though no container runs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { startDetached } from './process';
import { makeServerCertificate } from './test-ca';
import { until } from './until';

const bin = (tool: string) =>
  join(process.env.REKEY_CACHE ?? join(homedir(), '.cache', 'rekey'), 'kubernetes', tool);

export interface Cluster {
  server: string;
  caFile: string;
  /** A kubeconfig with the admin's token (system:masters). */
  kubeconfig: string;
  /** kubectl as the admin; throws with its stderr on a failure. */
  kubectl(args: string[], stdin?: string): string;
  /** A bearer token for `user` (static, known to the API server), with no rights until bound. */
  tokenOf(user: string): string;
  stop(): void;
}

/** Kills the processes at once (a test cluster's state is thrown away; the API server's graceful
 * shutdown would outlive etcd and hang). */
function killAll(pidFiles: string[]) {
  for (const file of pidFiles) {
    if (!existsSync(file)) continue;
    try {
      process.kill(-Number(readFileSync(file, 'utf8')), 'SIGKILL');
    } catch {
      // gone already
    }
    rmSync(file, { force: true });
  }
}

export async function startCluster(dir: string, port: number, users: string[]): Promise<Cluster> {
  const pidFiles = ['kwok', 'controller-manager', 'apiserver', 'etcd'].map((p) => join(dir, `${p}.pid`));
  killAll(pidFiles);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  makeServerCertificate(dir, {
    caName: 'rekey-test-kubernetes-ca',
    serverName: 'kube-apiserver',
    sans: ['IP:127.0.0.1', 'DNS:localhost'],
    days: 2,
  });
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('genrsa', '-out', f('sa.key'), '2048');
  openssl('rsa', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub'));
  const tokens = new Map(['admin', ...users].map((u) => [u, randomBytes(24).toString('hex')]));
  writeFileSync(
    f('tokens.csv'),
    [...tokens]
      .map(([u, t], i) => `${t},${u},${i + 1}${u === 'admin' ? ',"system:masters"' : ''}`)
      .join('\n'),
    { mode: 0o600 },
  );
  const server = `https://127.0.0.1:${port}`;
  const kubeconfig = f('admin.kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'certificate-authority': f('ca.pem') } }],
      users: [{ name: 'admin', user: { token: tokens.get('admin') } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin', namespace: 'default' } }],
      'current-context': 'test',
    }),
    { mode: 0o600 },
  );
  const [kwokPid, kcmPid, apiPid, etcdPid] = pidFiles as [string, string, string, string];
  const stop = () => killAll(pidFiles);
  try {
    startDetached(
      bin('etcd'),
      [
        `--data-dir=${f('etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${port + 1}`,
        `--advertise-client-urls=http://127.0.0.1:${port + 1}`,
        `--listen-peer-urls=http://127.0.0.1:${port + 2}`,
      ],
      f('etcd.log'),
      etcdPid,
    );
    startDetached(
      bin('kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${port + 1}`,
        `--secure-port=${port}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--tls-cert-file=${f('server.pem')}`,
        `--tls-private-key-file=${f('server-key.pem')}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${f('sa.pub')}`,
        `--service-account-signing-key-file=${f('sa.key')}`,
        `--token-auth-file=${f('tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--service-cluster-ip-range=10.96.0.0/24',
      ],
      f('apiserver.log'),
      apiPid,
    );
    const kubectl = (args: string[], stdin?: string) =>
      execFileSync(bin('kubectl'), ['--kubeconfig', kubeconfig, ...args], {
        input: stdin,
        stdio: 'pipe',
      }).toString();
    await until(
      'the API server to be ready',
      () => {
        try {
          return kubectl(['get', '--raw', '/readyz']).startsWith('ok') || undefined;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 60_000, everyMs: 250 },
    );
    startDetached(
      bin('kube-controller-manager'),
      [
        `--kubeconfig=${kubeconfig}`,
        '--controllers=deployment,replicaset,serviceaccount',
        '--leader-elect=false',
        '--use-service-account-credentials=false',
      ],
      f('controller-manager.log'),
      kcmPid,
    );
    startDetached(
      bin('kwok'),
      [
        `--kubeconfig=${kubeconfig}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--cidr=10.0.1.0/24',
        '--node-ip=10.0.0.1',
      ],
      f('kwok.log'),
      kwokPid,
    );
    kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'kwok-node-0', annotations: { 'kwok.x-k8s.io/node': 'fake' } },
      }),
    );
    await until(
      'the kwok node to be ready',
      () => {
        const ready = kubectl([
          'get',
          'node',
          'kwok-node-0',
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return ready === 'True' || undefined;
      },
      { timeoutMs: 60_000, everyMs: 250 },
    );
    return {
      server,
      caFile: f('ca.pem'),
      kubeconfig,
      kubectl,
      tokenOf: (user) => tokens.get(user) as string,
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}
