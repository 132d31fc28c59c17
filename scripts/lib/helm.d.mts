export const HELM_VERSION: string;
export function ensureHelm(options?: { log?: (message: string) => void }): string;
