// Checks Prometheus Operator resources (ServiceMonitor, PodMonitor, PrometheusRule) against the
// published prometheus-operator CRD models (@kubernetes-models/prometheus-operator, pinned in
// package-lock.json), two ways:
//   1. the CRD's JSON schema (the model's validate(): required fields, types, duration patterns);
//   2. the CRD's TypeScript types: each resource becomes a typed constant in out/<n>.ts and
//      `tsc --noEmit` runs, so a misspelt or unknown field is an excess-property error (the JSON
//      schema lets unknown fields through, as the API server prunes them silently).
// Usage: node check.mjs DOCS.json   (a JSON array of {"source": "where from", "doc": {...}},
//        as scripts/test.d/kubernetes.sh writes it from the rendered manifests). Exit 1 on any
//        problem, or when a document is of another kind.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';

const here = dirname(fileURLToPath(import.meta.url));
const kinds = {
  ServiceMonitor: { model: ServiceMonitor, type: 'IServiceMonitor' },
  PodMonitor: { model: PodMonitor, type: 'IPodMonitor' },
  PrometheusRule: { model: PrometheusRule, type: 'IPrometheusRule' },
};

if (process.argv.length !== 3) {
  console.error('usage: node check.mjs DOCS.json');
  process.exit(2);
}
const docs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
if (!Array.isArray(docs) || docs.length === 0) {
  console.error('k8s-schema: no documents to check');
  process.exit(1);
}

const out = join(here, 'out');
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
let problems = 0;
const imports = new Set();
let ts = '';
docs.forEach(({ source, doc }, i) => {
  const what = `${source}: ${doc?.kind} ${doc?.metadata?.name}`;
  const kind = kinds[doc?.kind];
  if (!kind || doc.apiVersion !== 'monitoring.coreos.com/v1') {
    console.error(`${what}: not a monitoring.coreos.com/v1 ServiceMonitor, PodMonitor or PrometheusRule`);
    problems++;
    return;
  }
  try {
    new kind.model(doc).validate();
  } catch (e) {
    console.error(`${what}: does not match the CRD's schema: ${e.message}`);
    problems++;
  }
  imports.add(doc.kind);
  ts += `// ${what}\nexport const doc_${i}: ${kind.type} = ${JSON.stringify(doc, null, 2)};\n`;
});
let header = '';
for (const kind of imports) {
  header += `import type { ${kinds[kind].type} } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}';\n`;
}
writeFileSync(join(out, 'docs.ts'), header + ts);
try {
  execFileSync(process.execPath, [join(here, 'node_modules/typescript/bin/tsc'), '-p', join(here, 'tsconfig.json')], {
    stdio: 'inherit',
  });
} catch {
  console.error('k8s-schema: the resources do not match the CRD types (errors above; generated source in tools/k8s-schema/out/)');
  problems++;
}
if (problems > 0) process.exit(1);
console.log(`k8s-schema: ${docs.length} resource(s) match the prometheus-operator CRDs`);
