export const OPA_VERSION: string;
export const ROOT: string;
export function ensureOpa(options?: { log?: (message: string) => void }): string;
