/** The 401 every token check throws: `token_invalid` with one reason code and RFC 6750 `invalid_token`. */
import { GatewayError } from '../errors.js';

export function invalidToken(reason: string, cause?: unknown): GatewayError {
  return new GatewayError('token_invalid', { reasons: [reason], bearer: { error: 'invalid_token' }, ...(cause === undefined ? {} : { cause }) });
}
