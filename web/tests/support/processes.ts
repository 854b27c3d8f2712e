// Child processes the UI tests start (the service, the fake CML): started with a bounded wait
// for their ready line, stopped with a bounded wait, and never left behind when the test
// runner exits.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export interface StartedProcess {
  child: ChildProcess;
  // The first stdout line matching the ready pattern, and its match.
  ready: RegExpMatchArray;
}

// Starts `command`, its stderr appended to `stderrFile`, and waits (at most `timeoutMs`) for a
// stdout line matching `readyPattern`. Throws with the stderr's tail when it exits first or stays
// silent too long.
export async function startProcess(options: {
  what: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  stderrFile: string;
  readyPattern: RegExp;
  timeoutMs: number;
}): Promise<StartedProcess> {
  const stderrFd = fs.openSync(options.stderrFile, 'a');
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', stderrFd],
  });
  fs.closeSync(stderrFd);
  running.add(child);
  child.once('exit', () => running.delete(child));

  const describe = () =>
    `${options.what}: ${options.command} ${options.args.join(' ')}\n--- stderr (${options.stderrFile}) ---\n` +
    tail(options.stderrFile, 40);

  const ready = await new Promise<RegExpMatchArray>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.what} printed no ready line within ${options.timeoutMs} ms\n${describe()}`));
    }, options.timeoutMs);
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      reject(new Error(`${options.what} exited (code ${code}, signal ${signal}) before it was ready\n${describe()}`));
    };
    child.once('exit', onExit);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${options.what} could not be started: ${error.message}`));
    });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      stdout += chunk;
      const match = stdout.match(options.readyPattern);
      if (match) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(match);
      }
    });
  });
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout!.resume();
  return { child, ready };
}

// Sends `signal` and waits (at most `timeoutMs`) for the exit; SIGKILL after that. Returns how it
// ended, as `code` or `signal`.
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<{ code: number | null; signal: string | null; forced: boolean }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return { code: child.exitCode, signal: child.signalCode, forced: false };
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, sig) => resolve({ code, signal: sig })),
  );
  child.kill(signal);
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs));
  const first = await Promise.race([exited, timer]);
  if (first !== 'timeout') return { ...first, forced: false };
  child.kill('SIGKILL');
  return { ...(await exited), forced: true };
}

export function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

// The inherited environment without anything that would change the service under test: a
// developer's RAYDEPLOY_* settings and CML key must not reach it.
export function cleanEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('RAYDEPLOY_') || name === 'CML_API_KEY') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}
