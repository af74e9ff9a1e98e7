/** The shape every subcommand has. Exit codes: 0 ok, 1 denied or failed, 2 usage. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  /** A narrower usage for `<command> <sub> --help`, when the arguments name a subcommand. */
  usageFor?(argv: readonly string[]): string | undefined;
  /** Resolves to the exit code, or undefined for a long-running command that exits by itself. */
  run(argv: readonly string[], io: Io): Promise<number | undefined>;
}
