// The layering of src/ as a lint rule: every folder of src/ is a layer, and imports only point down.
// From the top:  ui | worker, cli | experiments | engine | methods | losses, metrics | nn | kernels | tfjs
// Folders on one row do not import each other. The ui (and src/main.tsx) imports only what the main thread needs:
// the config schema, the loss catalogue, the worker protocol, the capped inflate and the event types; never tfjs.
import path from 'node:path';

/** Layer rank by folder under src/ (higher = further up). */
export const LAYERS = {
  ui: 9,
  worker: 8,
  cli: 8,
  experiments: 7,
  engine: 6,
  methods: 5,
  losses: 4,
  metrics: 4,
  nn: 3,
  kernels: 2,
};

/** The only modules of lower layers that the ui may import (each tfjs-free). */
export const UI_ALLOWED = [
  'engine/config',
  'engine/events',
  'engine/data/types',
  'losses/catalog',
  'worker/protocol',
  'worker/archives',
  'experiments/catalog',
];

const SRC = path.resolve('src');

function layerOf(file) {
  const rel = path.relative(SRC, file);
  if (rel.startsWith('..')) return null;
  const parts = rel.split(path.sep);
  if (parts.length === 1) return parts[0].startsWith('main.') ? 'ui' : null; // src/main.tsx is the ui's entry
  return parts[0] in LAYERS ? parts[0] : null;
}

function isTestFile(file) {
  return /\.test\.tsx?$/.test(file) || file.includes(`${path.sep}test${path.sep}`);
}

const importsPointDown = {
  meta: {
    type: 'problem',
    docs: { description: 'imports point down the layers of src/ (see eslint/layers.js)' },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const from = layerOf(file);
    if (from === null) return {};
    const test = isTestFile(file);
    function check(node, spec) {
      if (typeof spec !== 'string') return;
      if (from === 'ui' && !test && /^@tensorflow\//.test(spec) && node.importKind !== 'type') {
        context.report({
          node,
          message: `the ui runs on the main thread and must not import tfjs ('${spec}'): ask the worker (src/worker/protocol.ts)`,
        });
        return;
      }
      if (!spec.startsWith('.')) return;
      const target = path.resolve(path.dirname(file), spec);
      const to = layerOf(target);
      if (to === null || to === from) return;
      const rel = path
        .relative(SRC, target)
        .split(path.sep)
        .join('/')
        .replace(/\.(ts|tsx)$/, '');
      if (LAYERS[to] > LAYERS[from]) {
        context.report({
          node,
          message: `src/${from} must not import src/${to} ('${spec}'): imports point down (${Object.keys(LAYERS).join(' > ')})`,
        });
      } else if (LAYERS[to] === LAYERS[from]) {
        context.report({
          node,
          message: `src/${from} and src/${to} are one layer and must not import each other ('${spec}'): move the shared part down`,
        });
      } else if (from === 'ui' && !test && !UI_ALLOWED.includes(rel)) {
        context.report({
          node,
          message: `the ui may import only ${UI_ALLOWED.join(', ')} from below (got '${spec}'): it runs on the main thread without the engine`,
        });
      }
    }
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default { rules: { 'imports-point-down': importsPointDown } };
