// Type-checks each dashboard of dashboards/grafana/dashboards/ against the `Dashboard` type that Grafana publishes
// in @grafana/schema (the version Grafana ships, pinned in package-lock.json), with the TypeScript compiler:
// each JSON file becomes `const dashboard: Json<Dashboard> = <the JSON>;`, so wrong types, unknown enum values
// and unknown properties (excess property checks on object literals) are errors. Json<T> only turns TypeScript
// string enums (ThresholdsMode.Absolute) into the strings JSON holds ("absolute"), and reopens DataQuery (a query
// with a refId), which Grafana's CUE schema leaves open for each datasource's fields (expr, legendFormat...).
// Usage: node dashboards/tests/schema_check.mjs [DIR]   (default: the committed dashboards; exit status 1 on any error)
import ts from 'typescript';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PRELUDE = `import type { Dashboard } from '@grafana/schema';
type Json<T> = T extends string ? \`\${T}\`
  : T extends Array<infer U> ? Array<Json<U>>
  : T extends { refId: string } ? { [K in keyof T]: Json<T[K]> } & { [datasourceField: string]: unknown }
  : T extends object ? { [K in keyof T]: Json<T[K]> }
  : T;
`;
const here = dirname(fileURLToPath(import.meta.url));
const dir = process.argv[2] ?? join(here, '..', 'grafana', 'dashboards');
// Inside this directory, so that '@grafana/schema' resolves to node_modules here.
const scratch = mkdtempSync(join(here, '.schema-'));
let passed = 0;
let failed = 0;
try {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const sources = files.map((file) => {
    const source = join(scratch, file.replace(/\.json$/, '.ts'));
    const json = readFileSync(join(dir, file), 'utf8');
    writeFileSync(source, `${PRELUDE}export const dashboard: Json<Dashboard> = ${json};\n`);
    return { file, source };
  });
  const program = ts.createProgram(sources.map((s) => s.source), {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    skipLibCheck: true,
  });
  for (const { file, source } of sources) {
    const diagnostics = ts.getPreEmitDiagnostics(program, program.getSourceFile(source));
    if (diagnostics.length === 0) { passed++; console.log(`ok      ${file}`); continue; }
    failed++;
    for (const d of diagnostics) {
      const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : null;
      const line = where ? `line ${where.line}` : '';
      console.log(`FAIL    ${file} ${line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n        ')}`);
    }
  }
  if (files.length === 0) { failed++; console.log('FAIL    no dashboard found'); }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`schema: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
