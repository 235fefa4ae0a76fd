// Parses every LogQL expression of the operations kit with Grafana's Lezer LogQL grammar (Loki cannot run here).
// Sources: Loki targets and annotations of dashboards/grafana/dashboards/*.json, and ```logql blocks of
// docs/OPERATIONS.md and dashboards/README.md (one query per blank-line-separated chunk, `#` lines are comments).
// ```logql-invalid blocks hold counter-examples the docs warn about: each must FAIL to parse.
// Usage: node dashboards/tests/logql_parse.mjs   (exit status 1 on any failure)
import { parser } from '@grafana/lezer-logql';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Same substitution as tests/support/queries.rs: built-in intervals to durations, template variables to `.*`.
export function substitute(expr) {
  return expr.replace(/\$(\{[^}]*\}|[A-Za-z0-9_]+)/g, (_, ref) => {
    const name = ref.replace(/^\{|\}$/g, '').split(':')[0];
    return { __rate_interval: '1m', __auto: '1m', __interval: '15s', __range: '1h' }[name] ?? '.*';
  });
}

export function parseErrors(expr) {
  const errors = [];
  parser.parse(expr).iterate({ enter: (node) => { if (node.type.isError) errors.push(node.from); } });
  return errors;
}

function fencedBlocks(markdown, tag) {
  const blocks = [];
  let current = null;
  for (const line of markdown.split('\n')) {
    const trimmed = line.trim();
    if (current === null) {
      if (trimmed === '```' + tag) current = [];
    } else if (trimmed === '```') {
      blocks.push(current.join('\n'));
      current = null;
    } else {
      current.push(line);
    }
  }
  return blocks;
}

function splitQueries(block) {
  return block.split('\n\n')
    .map((chunk) => chunk.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n'))
    .filter((q) => q.trim() !== '');
}

function dashboardQueries() {
  const dir = join(root, 'dashboards', 'grafana', 'dashboards');
  const out = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const dashboard = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const panels = [];
    const walk = (list) => (list ?? []).forEach((p) => { panels.push(p); walk(p.panels); });
    walk(dashboard.panels);
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const ds = target.datasource?.type ? target.datasource : panel.datasource;
        if (ds?.type === 'loki' && target.expr) out.push({ origin: `${file}: panel "${panel.title}"`, expr: target.expr });
      }
    }
    for (const ann of dashboard.annotations?.list ?? []) {
      const expr = ann.target?.expr ?? ann.expr;
      if (ann.datasource?.type === 'loki' && expr) out.push({ origin: `${file}: annotation "${ann.name}"`, expr });
    }
  }
  return out;
}

function docQueries(tag) {
  const out = [];
  for (const rel of ['docs/OPERATIONS.md', 'dashboards/README.md']) {
    const text = readFileSync(join(root, rel), 'utf8');
    fencedBlocks(text, tag).forEach((block, i) =>
      splitQueries(block).forEach((expr) => out.push({ origin: `${rel}: ${tag} block ${i + 1}`, expr })));
  }
  return out;
}

const valid = [...dashboardQueries(), ...docQueries('logql')];
const invalid = docQueries('logql-invalid');
let passed = 0;
let failed = 0;
for (const { origin, expr } of valid) {
  const errors = parseErrors(substitute(expr));
  if (errors.length === 0) { passed++; console.log(`ok      ${origin}`); continue; }
  failed++;
  console.log(`FAIL    ${origin}: syntax error at offset ${errors[0]}\n        ${expr}`);
}
for (const { origin, expr } of invalid) {
  if (parseErrors(substitute(expr)).length > 0) { passed++; console.log(`ok      ${origin} (rejected, as documented)`); continue; }
  failed++;
  console.log(`FAIL    ${origin}: documented as invalid but parses\n        ${expr}`);
}
if (valid.length === 0) { failed++; console.log('FAIL    no LogQL expression found'); }
console.log(`queries: valid=${valid.length} invalid=${invalid.length}`);
console.log(`logql: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
