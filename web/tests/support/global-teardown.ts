// After the tests: the screenshots this run wrote, so they can be found from the test output.
import fs from 'node:fs';
import path from 'node:path';

import { artifactsDir, repoRoot } from './paths';

export default function globalTeardown(): void {
  const files = fs.existsSync(artifactsDir) ? fs.readdirSync(artifactsDir).sort() : [];
  const shots = files.filter((f) => f.endsWith('.png'));
  console.log(`\nUI artifacts in ${path.relative(repoRoot, artifactsDir)}/ (${shots.length} screenshots):`);
  for (const file of files) console.log(`  ${path.relative(repoRoot, path.join(artifactsDir, file))}`);
}
