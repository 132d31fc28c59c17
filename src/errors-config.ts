/**
 * Configuration problems, each naming the key it is about: the one kind of error that stops
 * start-up (the CLI exits 2 on it, docs/operations.md#exit-codes). Everything that reads
 * configuration or what it names (files, secrets, directories, URLs) reports through it, so an
 * operator always learns which key to fix, and all the problems a document has are reported at once.
 */
export interface ConfigProblem {
  /** Dotted path of the key (`audit.sinks.1.url`), or the environment variable that sets it. */
  readonly key: string;
  readonly problem: string;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(key: string, problem: string);
  constructor(problems: readonly ConfigProblem[]);
  constructor(keyOrProblems: string | readonly ConfigProblem[], problem?: string) {
    const problems = typeof keyOrProblems === 'string' ? [{ key: keyOrProblems, problem: problem ?? 'invalid' }] : keyOrProblems;
    super(messageOf(problems));
    this.name = 'ConfigError';
    this.problems = problems;
  }

  /** The first problem's key. */
  get key(): string {
    return this.problems[0]?.key ?? '';
  }

  get problem(): string {
    return this.problems[0]?.problem ?? 'invalid';
  }
}

function messageOf(problems: readonly ConfigProblem[]): string {
  const line = (p: ConfigProblem): string => `${p.key || '(root)'}: ${p.problem}`;
  if (problems.length === 1) return `invalid configuration at ${line(problems[0] as ConfigProblem)}`;
  return `invalid configuration (${problems.length} problems):\n${problems.map((p) => `  - ${line(p)}`).join('\n')}`;
}

/**
 * A file-system failure on a path the configuration names, as a ConfigError: the key, the path and
 * the errno code (EACCES, ENOENT), never file contents.
 */
export function configFileError(key: string, what: string, err: unknown): ConfigError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return new ConfigError(key, `cannot ${what}: ${code ?? (err instanceof Error ? err.message : 'error')}`);
}
