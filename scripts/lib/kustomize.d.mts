export const KUSTOMIZE_VERSION: string;
export function ensureKustomize(options?: { log?: (message: string) => void }): string;
