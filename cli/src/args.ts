/**
 * A small, strict flag parser shared by every subcommand: `--name value`, `--name=value`, boolean
 * `--flag`, repeatable flags, positionals. Unknown flags are usage errors (exit 2).
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  readonly [name: string]: { readonly type: 'string' | 'boolean' | 'list'; readonly short?: string };
}

export interface Parsed {
  readonly flags: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

export function parseArgs(argv: readonly string[], spec: FlagSpec): Parsed {
  const flags: Parsed['flags'] = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(spec).flatMap(([n, s]) => (s.short ? [[s.short, n] as const] : [])));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const rawName = a.startsWith('--') ? a.slice(2, eq < 0 ? undefined : eq) : byShort.get(a.slice(1));
    if (rawName === undefined || !(rawName in spec)) throw new UsageError(`unknown option ${a.split('=')[0]}`);
    const s = spec[rawName]!;
    if (s.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`option --${rawName} takes no value`);
      flags[rawName] = true;
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`option --${rawName} needs a value`);
    if (s.type === 'list') flags[rawName] = [...((flags[rawName] as string[] | undefined) ?? []), value];
    else flags[rawName] = value;
  }
  return { flags, positionals };
}

export const str = (p: Parsed, name: string): string | undefined => p.flags[name] as string | undefined;
export const bool = (p: Parsed, name: string): boolean => p.flags[name] === true;
export const list = (p: Parsed, name: string): string[] => (p.flags[name] as string[] | undefined) ?? [];

export function need(p: Parsed, name: string): string {
  const v = str(p, name);
  if (v === undefined) throw new UsageError(`option --${name} is required`);
  return v;
}
