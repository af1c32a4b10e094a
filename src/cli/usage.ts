/** The help of one `weixin-kit` command. */
export interface CommandHelp {
  /** What follows `weixin-kit ` in the usage line, e.g. `doctor --config file.json`. */
  synopsis: string;
  /** What the command does and how its options work; lines separated by `\n`. */
  description: string;
}

/** Prints `usage: weixin-kit <synopsis>`, a blank line and the description; returns exit code 0. */
export function printCommandUsage(out: (line: string) => void, help: CommandHelp): number {
  out(`usage: weixin-kit ${help.synopsis}`);
  out('');
  out(help.description);
  return 0;
}
