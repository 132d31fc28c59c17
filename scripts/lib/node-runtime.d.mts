export const NODE_TARGET_VERSION: string;
export const NODE_TARGET_DIR: string;
export function ensureTargetNode(options?: { log?: (message: string) => void }): string;
