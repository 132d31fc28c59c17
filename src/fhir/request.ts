/** The canonical form of a FHIR REST request: what policy sees and what is forwarded upstream. */

export type Interaction =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'search-compartment'
  /** A page of an earlier search fetched with the server's paging token (`GET [base]?_getpages=...`). */
  | 'search-continue'
  | 'capabilities'
  | 'batch'
  | 'operation';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One `name[:modifier]=value` query parameter, percent-decoded. A repeated name is two entries (AND). */
export interface SearchParam {
  readonly name: string;
  readonly modifier: string | null;
  /** The decoded value; commas not preceded by `\` separate OR alternatives (see `values`). */
  readonly value: string;
  /** The OR alternatives of `value`, with `\,` unescaped. */
  readonly values: readonly string[];
}

export interface FhirRequest {
  readonly method: HttpMethod;
  readonly interaction: Interaction;
  /** Resource type the interaction is on (for search-compartment: the searched type); null at system level. */
  readonly type: string | null;
  readonly id: string | null;
  readonly version: string | null;
  /** For `Patient/123/Observation`: { type: 'Patient', id: '123' }. */
  readonly compartment: { readonly type: string; readonly id: string } | null;
  /** Operation name without `$`, for interaction 'operation'. */
  readonly operation: string | null;
  /** Search, control and paging parameters from the query string (and from a `_search` form body). */
  readonly params: readonly SearchParam[];
  /** True when the parameters came from a POST `_search` body. */
  readonly searchViaPost: boolean;
  /** Conditional create: the criteria of the `If-None-Exist` header, parsed like search parameters. */
  readonly ifNoneExist: readonly SearchParam[] | null;
}
