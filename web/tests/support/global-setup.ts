// Before any test: everything the tests need is there, or the run stops at once saying what to do.
// Old screenshots are removed so the list at the end is this run's.
import fs from 'node:fs';
import path from 'node:path';

import { artifactsDir, chromiumPath, fakeCmlScript, raydeployBinary, venvBin } from './paths';

export default function globalSetup(): void {
  const missing: string[] = [];
  const need = (file: string, fix: string) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      missing.push(`${file} is missing: ${fix}`);
    }
  };
  need(raydeployBinary, "build it with 'bash scripts/build.sh --target raydeploy' (or set RAYDEPLOY_BINARY)");
  need(chromiumPath, "install Debian's chromium package ('bash scripts/bootstrap.sh' does)");
  need(path.join(venvBin, 'ansible-playbook'), "create the project venv with 'bash scripts/bootstrap.sh'");
  need(path.join(venvBin, 'python'), "create the project venv with 'bash scripts/bootstrap.sh'");
  if (!fs.existsSync(fakeCmlScript)) missing.push(`${fakeCmlScript} is missing: the checkout is incomplete`);
  if (missing.length) throw new Error('the UI tests cannot run:\n  ' + missing.join('\n  '));

  fs.rmSync(artifactsDir, { recursive: true, force: true });
  fs.mkdirSync(artifactsDir, { recursive: true });
}
