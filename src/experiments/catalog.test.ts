import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { LOSS_CATALOG } from '../losses/catalog';
import { EXPERIMENTS, EXPERIMENT_IDS, experimentById, experimentRuns, gridOf } from './catalog';
import { SCALES } from './types';

/** Local modules and packages reachable from `start` through runtime (not type-only) imports. */
function runtimeGraph(start: string): { modules: string[]; packages: Set<string> } {
  const seen = new Set([start]);
  const packages = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift() as string;
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    for (const node of source.statements) {
      let spec: string | null = null;
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        const clause = node.importClause;
        const named = clause?.namedBindings;
        const typeOnly =
          clause !== undefined &&
          (clause.isTypeOnly ||
            (clause.name === undefined &&
              named !== undefined &&
              ts.isNamedImports(named) &&
              named.elements.length > 0 &&
              named.elements.every((element) => element.isTypeOnly)));
        if (!typeOnly) spec = node.moduleSpecifier.text;
      } else if (
        ts.isExportDeclaration(node) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        if (!node.isTypeOnly) spec = node.moduleSpecifier.text;
      }
      if (spec === null) continue;
      if (!spec.startsWith('.')) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
        continue;
      }
      const base = path.resolve(path.dirname(file), spec);
      const target = [`${base}.ts`, base, `${base}/index.ts`].find((c) => existsSync(c) && c.endsWith('.ts'));
      if (target && !seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  return { modules: [...seen].map((file) => path.relative(process.cwd(), file)), packages };
}

describe('the experiments catalogue', () => {
  it('loads no tfjs, so the app can show the cards and compute verdicts on the main thread', () => {
    const { modules, packages } = runtimeGraph(path.resolve('src/experiments/catalog.ts'));
    expect([...packages].filter((name) => name.startsWith('@tensorflow'))).toEqual([]);
    expect(modules).toContain('src/experiments/temperature.ts');
    expect(modules).not.toContain('src/experiments/runner.ts');
    const below = modules.filter((file) => !file.startsWith('src/experiments/')).sort();
    expect(below).toEqual([
      'src/engine/config.ts',
      'src/engine/data/types.ts',
      'src/engine/protocols/config.ts',
      'src/losses/catalog.ts',
      'src/nn/presets.ts',
    ]);
    // the walk does find tfjs where it is
    expect(runtimeGraph(path.resolve('src/experiments/runner.ts')).packages.has('@tensorflow/tfjs')).toBe(
      true,
    );
  });

  it('has the eight experiments, with unique kebab-case names and a clear error for an unknown one', () => {
    expect(EXPERIMENT_IDS).toEqual([
      'temperature',
      'align-uniform',
      'dcl-batch',
      'dimensional-collapse',
      'simsiam-collapse',
      'multi-view',
      'supcon',
      'redundancy-reduction',
    ]);
    expect(() => experimentById('nope')).toThrow(
      /unknown experiment 'nope'; the experiments are: temperature, /,
    );
  });

  it('describes every experiment fully: paper, claim, rule, plots over axes of its grid', () => {
    for (const experiment of EXPERIMENTS) {
      const where = experiment.id;
      expect(experiment.paper.arxiv, where).toMatch(/^\d{4}\.\d{5}/);
      expect(experiment.paper.year, where).toBeGreaterThanOrEqual(2020);
      expect(experiment.claim.length, where).toBeGreaterThan(40);
      expect(experiment.paperStatement.length, where).toBeGreaterThan(80);
      expect(experiment.verdict.description.length, where).toBeGreaterThan(40);
      expect(experiment.verdict.tolerance.length, where).toBeGreaterThan(5);
      expect(experiment.verdict.notReproduced.length, where).toBeGreaterThan(40);
      expect(experiment.plots.length, where).toBeGreaterThanOrEqual(3);
      for (const scale of SCALES) {
        const names = gridOf(experiment, scale).map((axis) => axis.name);
        for (const plot of experiment.plots) {
          if (plot.kind === 'final') {
            expect(names, `${where}: plot over ${plot.axis}`).toContain(plot.axis);
            const axis = gridOf(experiment, scale).find((a) => a.name === plot.axis);
            expect(
              axis?.options.every((o) => typeof o.value === 'number'),
              where,
            ).toBe(true);
          }
        }
        const runs = experimentRuns(experiment, scale);
        // quick: the shipped Fashion-MNIST subset; full: CIFAR-10
        expect(new Set(runs.map((run) => run.config.dataset.id)), `${where} ${scale}`).toEqual(
          new Set([scale === 'quick' ? 'fashion-mnist' : 'cifar10']),
        );
        for (const run of runs) {
          // labels the loss needs are there in every dataset used; the PCA scatter is not needed by any report
          expect(LOSS_CATALOG[run.config.loss.id], run.key).toBeDefined();
          expect(run.config.eval.pca).toBe(false);
        }
      }
    }
  });

  it('is described in docs/experiments.md in the words of the definitions', () => {
    const docs = readFileSync('docs/experiments.md', 'utf8');
    for (const experiment of EXPERIMENTS) {
      expect(docs).toContain(`## ${experiment.id}\n`);
      for (const text of [
        experiment.claim,
        experiment.paperStatement,
        experiment.verdict.description,
        experiment.verdict.tolerance,
        experiment.verdict.notReproduced,
      ])
        expect(docs, experiment.id).toContain(text);
    }
  });
});
