// Checks every dashboard in ../../dashboards against Grafana's published dashboard schema
// (@grafana/schema's TypeScript types): writes out/<dashboard>.ts with the dashboard and each of
// its panels as typed constants, then runs `tsc --noEmit`. Exit 1 on any type error.
// Usage: node check.mjs [dashboard.json ...]   (default: ../../dashboards/*.json)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dashboardsDir = resolve(here, '../../dashboards');
const files = process.argv.length > 2
  ? process.argv.slice(2).map((f) => resolve(f))
  : readdirSync(dashboardsDir).filter((f) => f.endsWith('.json')).map((f) => join(dashboardsDir, f));
if (files.length === 0) {
  console.error('grafana-schema: no dashboards found');
  process.exit(1);
}
const known = ['bargauge', 'stat', 'state-timeline', 'table', 'text', 'timeseries', 'row'];
const out = join(here, 'out');
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
let problems = 0;
for (const file of files) {
  const dash = JSON.parse(readFileSync(file, 'utf8'));
  const name = basename(file, '.json').replace(/[^A-Za-z0-9]/g, '_');
  let ts = "import type { DashboardJson, PanelTypes } from '../types';\n";
  ts += `// ${file}\nexport const dashboard: DashboardJson = ${JSON.stringify(dash, null, 2)};\n`;
  for (const panel of dash.panels ?? []) {
    if (!known.includes(panel.type)) {
      console.error(`${file}: panel ${panel.id} "${panel.title}": type ${panel.type} has no published schema here`);
      problems++;
      continue;
    }
    ts += `export const panel_${panel.id}: PanelTypes[${JSON.stringify(panel.type)}] = ${JSON.stringify(panel, null, 2)};\n`;
  }
  writeFileSync(join(out, `${name}.ts`), ts);
}
try {
  execFileSync(process.execPath, [join(here, 'node_modules/typescript/bin/tsc'), '-p', join(here, 'tsconfig.json')], {
    stdio: 'inherit',
  });
} catch {
  console.error('grafana-schema: the dashboards do not match @grafana/schema (errors above; generated sources in tools/grafana-schema/out/)');
  process.exit(1);
}
if (problems > 0) process.exit(1);
console.log(`grafana-schema: ${files.length} dashboard(s) match @grafana/schema`);
