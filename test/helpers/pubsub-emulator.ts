/**
 * Starts the real Pub/Sub emulator (`gcloud beta emulators pubsub start`) for integration tests, on a free
 * port, in its own process group so stop() takes the Java child with it. Start-up takes several seconds: share
 * one emulator per test file. The emulator keeps everything in memory, so restart() comes back empty.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';

export interface PubSubEmulator {
  /** host:port, for PUBSUB_EMULATOR_HOST or the client's apiEndpoint. */
  host: string;
  projectId: string;
  stop(): Promise<void>;
  /** Stops and starts again on the same port (with no topics: the emulator is in-memory). */
  restart(): Promise<void>;
  /** Freezes the emulator (SIGSTOP): connections hang instead of failing, like a network partition. */
  pause(): void;
  resume(): void;
}

const INSTALL_HINT =
  'the Pub/Sub emulator needs gcloud and Java: install google-cloud-cli-pubsub-emulator (apt-get install ' +
  'google-cloud-cli-pubsub-emulator default-jre-headless) or `gcloud components install pubsub-emulator beta`';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function answers(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`http://${host}/`, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function checkInstalled(): void {
  for (const [cmd, args] of [
    ['gcloud', ['--version']],
    ['java', ['-version']],
  ] as const) {
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.error || r.status !== 0)
      throw new Error(`${cmd} is not available (${r.error?.message ?? `exit ${r.status}`}); ${INSTALL_HINT}`);
  }
}

export async function startPubSubEmulator(
  options: { projectId?: string; startTimeoutMs?: number } = {},
): Promise<PubSubEmulator> {
  checkInstalled();
  const projectId = options.projectId ?? 'tagpipe-test';
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  let child: ChildProcess | null = null;
  let output = '';

  const launch = async (): Promise<void> => {
    output = '';
    const proc = spawn(
      'gcloud',
      ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, `--project=${projectId}`, '--quiet'],
      {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    let exited = false;
    proc.on('exit', () => (exited = true));
    const until = Date.now() + timeoutMs;
    while (!(await answers(host))) {
      if (exited)
        throw new Error(`the Pub/Sub emulator exited during start-up: ${output.slice(-2000)}\n${INSTALL_HINT}`);
      if (Date.now() > until) {
        await stop();
        throw new Error(
          `the Pub/Sub emulator did not answer on ${host} within ${timeoutMs} ms: ${output.slice(-2000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const group = -(proc.pid as number);
    try {
      process.kill(group, 'SIGCONT'); // in case it was paused
      process.kill(group, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000);
    await gone;
    clearTimeout(timer);
    // The JVM may outlive the gcloud wrapper briefly; wait until the port is free again.
    const until = Date.now() + 10_000;
    while ((await answers(host)) && Date.now() < until) {
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        // group already empty
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const signal = (sig: NodeJS.Signals) => {
    const proc = child as ChildProcess | null;
    if (proc?.pid) process.kill(-proc.pid, sig);
  };

  await launch();
  return {
    host,
    projectId,
    stop,
    async restart() {
      await stop();
      await launch();
    },
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
  };
}
