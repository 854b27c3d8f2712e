// The project's fake CML API (tests/fake_cml/fake_cml_api.py) for the restart test: CML runs go on
// while raydeploy is down, so a run-jobs execution is re-attached after a restart and its log
// goes on (docs/cml.md, "Restarts").
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';

import { artifactsDir, fakeCmlScript, venvBin } from './paths';
import { cleanEnvironment, startProcess, stopProcess } from './processes';

export class FakeCml {
  readonly apiKey: string;
  private constructor(
    private readonly child: ChildProcess,
    readonly cmlPort: number,
    readonly controlPort: number,
    apiKey: string,
  ) {
    this.apiKey = apiKey;
  }

  // `args`: the fake's clock flags (--run-running-s ...).
  static async start(label: string, args: string[]): Promise<FakeCml> {
    const apiKey = randomBytes(24).toString('hex');
    fs.mkdirSync(artifactsDir, { recursive: true });
    const started = await startProcess({
      what: 'fake CML',
      command: path.join(venvBin, 'python'),
      args: [fakeCmlScript, '--host', '127.0.0.1', '--port', '0', '--control-port', '0', '--api-key', apiKey, ...args],
      env: cleanEnvironment({}),
      cwd: path.dirname(fakeCmlScript),
      stderrFile: path.join(artifactsDir, `fake-cml-${label}.log`),
      readyPattern: /(\{[^\n]*"cml_port"[^\n]*\})\n/,
      timeoutMs: 20_000,
    });
    const ports = JSON.parse(started.ready[1]);
    return new FakeCml(started.child, ports.cml_port, ports.control_port, apiKey);
  }

  get cmlUrl(): string {
    return `http://127.0.0.1:${this.cmlPort}`;
  }

  // The service's CML settings pointing at this fake (as tests/integration/cml_deployment_test.cpp).
  serviceEnv(): Record<string, string> {
    return {
      RAYDEPLOY_CML_HOST: this.cmlUrl,
      RAYDEPLOY_CML_API_KEY: this.apiKey,
      RAYDEPLOY_CML_PROJECT_NAME: 'ray-ui-tests',
      RAYDEPLOY_CML_GIT_URL: 'https://git.example.com/team/ray-on-cml.git',
      RAYDEPLOY_CML_RUNTIME_IDENTIFIER:
        'docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-workbench-python3.10-standard:2024.02.1-b4',
      RAYDEPLOY_CML_POLL_INTERVAL: '200ms',
      RAYDEPLOY_CML_REQUEST_TIMEOUT: '5s',
    };
  }

  async control(method: string, route: string, body?: unknown): Promise<any> {
    const response = await fetch(`http://127.0.0.1:${this.controlPort}${route}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`fake CML control ${method} ${route} answered ${response.status}: ${text}`);
    return JSON.parse(text);
  }

  // Job runs under way (and later ones) finish their ENGINE_RUNNING phase after `seconds`.
  async finishRuns(seconds = 0.5): Promise<void> {
    await this.control('POST', '/config', { run_running_s: seconds });
  }

  async stop(): Promise<void> {
    await stopProcess(this.child, 'SIGTERM', 10_000);
  }
}
