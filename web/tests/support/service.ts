// A real `raydeploy serve` for one test: a private state directory, a settings file admitting five
// people with distinct roles, the fixture catalog, the project venv's ansible-playbook. It can be
// stopped (SIGTERM or SIGKILL) and started again on the same port and state directory.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';

import {
  artifactsDir,
  fixtureInventory,
  raydeployBinary,
  repoRoot,
  uiCatalog,
  venvBin,
} from './paths';
import { cleanEnvironment, startProcess, stopProcess, tail } from './processes';

export type Role = 'viewer' | 'operator' | 'approver' | 'admin';
export type Who = 'operator' | 'approverA' | 'approverB' | 'admin' | 'viewer';

export interface Identity {
  name: string;
  role: Role;
  token: string;
}

// Five people, so four-eyes has someone to refuse (approverA asks, approverB grants).
const people: Record<Who, { name: string; role: Role }> = {
  operator: { name: 'olivia', role: 'operator' },
  approverA: { name: 'alice', role: 'approver' },
  approverB: { name: 'bob', role: 'approver' },
  admin: { name: 'ada', role: 'admin' },
  viewer: { name: 'victor', role: 'viewer' },
};

export interface ServiceOptions {
  // The test's name, for the service's log file under build/ui-artifacts/.
  label: string;
  catalog?: string;
  // Environment variables of the service on top of the clean environment (e.g. CML settings).
  env?: Record<string, string>;
}

export interface ApiAnswer {
  status: number;
  text: string;
  json: any;
}

const startTimeoutMs = 30_000;
// SIGTERM waits for http.shutdown_grace and executions.kill_grace (both 2 s here) at most.
const stopTimeoutMs = 20_000;
const requestTimeoutMs = 15_000;

export class RaydeployService {
  readonly identities: Record<Who, Identity>;
  readonly workDir: string;
  readonly stateDir: string;
  // A directory the fixture playbooks read (UI_FIXTURE_DIR): the release files of
  // hold_until_released.yml go here.
  readonly fixtureDir: string;
  readonly logFile: string;
  private readonly settingsFile: string;
  private readonly options: ServiceOptions;
  private child: ChildProcess | undefined;
  private boundPort = 0;

  private constructor(options: ServiceOptions) {
    this.options = options;
    this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'raydeploy-ui-'));
    this.stateDir = path.join(this.workDir, 'state');
    this.fixtureDir = path.join(this.workDir, 'fixture');
    fs.mkdirSync(this.fixtureDir);
    fs.mkdirSync(artifactsDir, { recursive: true });
    this.logFile = path.join(artifactsDir, `service-${sanitize(options.label)}.log`);
    fs.writeFileSync(this.logFile, '');
    this.identities = Object.fromEntries(
      Object.entries(people).map(([who, p]) => [who, { ...p, token: 'rdp_' + randomBytes(32).toString('base64url') }]),
    ) as Record<Who, Identity>;
    this.settingsFile = path.join(this.workDir, 'raydeploy.yaml');
    fs.writeFileSync(this.settingsFile, this.settingsYaml(), { mode: 0o600 });
  }

  static async start(options: ServiceOptions): Promise<RaydeployService> {
    const service = new RaydeployService(options);
    await service.launch('127.0.0.1:0');
    return service;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  // After stop(): the service again, on the same port and state directory.
  async startAgain(): Promise<void> {
    if (this.child) throw new Error('startAgain() needs the service stopped first');
    await this.launch(`127.0.0.1:${this.boundPort}`);
  }

  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (!this.child) return;
    const child = this.child;
    this.child = undefined;
    const ended = await stopProcess(child, signal, stopTimeoutMs);
    if (ended.forced)
      throw new Error(`the service did not stop within ${stopTimeoutMs} ms of ${signal}\n${tail(this.logFile, 40)}`);
    if (signal === 'SIGTERM' && ended.code !== 0)
      throw new Error(`the service exited with ${JSON.stringify(ended)} after SIGTERM, not 0\n${tail(this.logFile, 40)}`);
  }

  // Stops the service and removes its private directory (the log stays under build/).
  async dispose(): Promise<void> {
    try {
      await this.stop('SIGTERM');
    } finally {
      fs.rmSync(this.workDir, { recursive: true, force: true });
    }
  }

  // Lets a run of hold_until_released.yml go on.
  release(executionId: string): void {
    fs.writeFileSync(path.join(this.fixtureDir, `release-${executionId}`), 'go\n');
  }

  async api(who: Who, method: string, route: string, body?: unknown): Promise<ApiAnswer> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.identities[who].token}` };
    if (method !== 'GET') headers['Content-Type'] = 'application/json';
    const response = await fetch(this.url + route, {
      method,
      headers,
      body: method === 'GET' ? undefined : JSON.stringify(body ?? {}),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await response.text();
    let json: any = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json };
  }

  // GET that must answer 200 with JSON.
  async get(who: Who, route: string): Promise<any> {
    const answer = await this.api(who, 'GET', route);
    if (answer.status !== 200) throw new Error(`GET ${route} answered ${answer.status}: ${answer.text}`);
    return answer.json;
  }

  // The run's log as the service serves it, one string per line.
  async logLines(executionId: string): Promise<string[]> {
    const answer = await this.api('viewer', 'GET', `/api/v1/executions/${executionId}/log`);
    if (answer.status !== 200) throw new Error(`GET log of ${executionId} answered ${answer.status}: ${answer.text}`);
    const lines = answer.text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines;
  }

  private settingsYaml(): string {
    const q = (s: string) => JSON.stringify(s);
    const tokens = Object.values(this.identities)
      .map((id) => `    - {name: ${q(id.name)}, role: ${id.role}, sha256: ${sha256(id.token)}}`)
      .join('\n');
    return [
      '# Written by web/tests/support/service.ts for one UI test.',
      `state_dir: ${q(this.stateDir)}`,
      `catalog: ${q(this.options.catalog ?? uiCatalog)}`,
      `inventory: ${q(fixtureInventory)}`,
      `ansible_playbook: ${q(path.join(venvBin, 'ansible-playbook'))}`,
      'log:',
      '  level: info',
      'http:',
      '  shutdown_grace: 2s',
      'executions:',
      '  kill_grace: 2s',
      'executor:',
      '  pass_env: [UI_FIXTURE_DIR]',
      // No Ray cluster runs here: the cluster page must say its data is not available.
      'ray:',
      '  enabled: false',
      'auth:',
      '  tokens:',
      tokens,
      '',
    ].join('\n');
  }

  private async launch(listen: string): Promise<void> {
    if (!fs.existsSync(raydeployBinary))
      throw new Error(`${raydeployBinary} does not exist: build it with 'bash scripts/build.sh --target raydeploy'`);
    fs.appendFileSync(this.logFile, `--- raydeploy serve --listen ${listen} (${new Date().toISOString()}) ---\n`);
    const env = cleanEnvironment({
      // As the integration tests: the project venv's Ansible first on PATH.
      PATH: `${venvBin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      UI_FIXTURE_DIR: this.fixtureDir,
      ...this.options.env,
    });
    const started = await startProcess({
      what: 'raydeploy serve',
      command: raydeployBinary,
      args: ['serve', '--config', this.settingsFile, '--listen', listen],
      env,
      cwd: this.workDir,
      stderrFile: this.logFile,
      readyPattern: /listening on http:\/\/127\.0\.0\.1:(\d+)\n/,
      timeoutMs: startTimeoutMs,
    });
    this.child = started.child;
    this.boundPort = Number(started.ready[1]);
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sanitize(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-|-$/g, '').slice(0, 80) || 'service';
}

export { repoRoot };
