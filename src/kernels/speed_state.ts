/**
 * Which backends have the project's speed kernels on (installKernels with kernels: 'project'), for code that
 * picks a formulation by what the backend runs fast (sum_mean/gradient.ts: a Tile is an element loop in stock
 * tfjs-backend-wasm, one vectorised pass with the project's kernels).
 */
const speedOn = new Set<string>();

export function setSpeedKernels(backendName: string, on: boolean): void {
  if (on) speedOn.add(backendName);
  else speedOn.delete(backendName);
}

export function speedKernelsOn(backendName: string): boolean {
  return speedOn.has(backendName);
}
