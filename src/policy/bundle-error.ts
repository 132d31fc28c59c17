/** A policy bundle that cannot be used (unreadable, unsigned, tampered, incomplete). */
export class BundleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BundleError';
  }
}
