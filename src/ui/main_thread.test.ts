import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * What the page's main thread loads: every module reachable from src/main.tsx through runtime imports (static
 * and dynamic; type-only imports are erased, worker entries run elsewhere). The engine (tfjs) lives in the
 * worker; the page must not pull it in.
 */
const ROOT = path.resolve(__dirname, '../..');

function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((element) => element.isTypeOnly)));
      if (!typeOnly) specs.push(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      if (!node.isTypeOnly) specs.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments.length === 1 &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specs.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specs;
}

function resolveLocal(from: string, spec: string): string | null {
  const base = path.resolve(path.dirname(from), spec.split('?')[0]);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`]) {
    if (existsSync(candidate) && /\.(ts|tsx)$/.test(candidate)) return candidate;
  }
  return null;
}

/** Every local module and every package the main thread loads, from src/main.tsx. */
function mainThreadGraph(): { modules: string[]; packages: Set<string> } {
  const start = path.join(ROOT, 'src/main.tsx');
  const seen = new Set([start]);
  const packages = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift() as string;
    for (const spec of runtimeImports(file)) {
      if (spec.startsWith('.')) {
        const target = resolveLocal(file, spec);
        if (target !== null && !seen.has(target)) {
          seen.add(target);
          queue.push(target);
        }
      } else {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
  }
  return { modules: [...seen].map((file) => path.relative(ROOT, file)), packages };
}

describe('the main thread', () => {
  const { modules, packages } = mainThreadGraph();

  it('loads no tfjs and only the basic Plotly bundle', () => {
    expect([...packages].filter((name) => name.startsWith('@tensorflow'))).toEqual([]);
    expect(packages.has('plotly.js-dist-min')).toBe(false);
    expect(packages.has('plotly.js-basic-dist-min')).toBe(true);
    expect(packages.has('react')).toBe(true);
  });

  it('reaches below the ui only the config schema, the loss catalogue, the experiments as data, the protocol, the capped inflate and the event types', () => {
    const outsideUi = modules.filter((file) => !file.startsWith('src/ui/') && file !== 'src/main.tsx').sort();
    const allowed = new Set([
      'src/engine/config.ts',
      'src/engine/events.ts',
      'src/engine/data/types.ts',
      'src/losses/catalog.ts',
      'src/nn/presets.ts',
      'src/nn/types.ts',
      'src/worker/protocol.ts',
      'src/worker/archives.ts',
      'src/engine/protocols/config.ts',
    ]);
    // the experiments as data (definitions, plans, verdict rules, bundle and report); the runner trains, so never
    const experiments = outsideUi.filter((file) => file.startsWith('src/experiments/'));
    expect(experiments).toContain('src/experiments/catalog.ts');
    expect(experiments).not.toContain('src/experiments/runner.ts');
    expect(outsideUi.filter((file) => !allowed.has(file) && !experiments.includes(file))).toEqual([]);
    expect(outsideUi).toContain('src/losses/catalog.ts');
  });

  it('is found by the walk (the walk itself follows imports)', () => {
    expect(modules).toContain('src/ui/app.tsx');
    expect(modules).toContain('src/ui/compare_view.tsx');
    expect(runtimeImports(path.join(ROOT, 'src/worker/engine.worker.ts'))).toContain('@tensorflow/tfjs');
  });
});
