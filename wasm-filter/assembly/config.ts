// Plugin configuration: parsed once per root context in proxy_on_configure into a Config that is
// never changed afterwards. Defaults live here and only here. Unknown keys and wrong types are
// refused, and every problem is reported at once so one deploy round fixes them all.
//
// {"header": "x-trustplane-body-sha256", "max_body_bytes": 1048576,
//  "require_passport_header": null, "log_level": "info"}

import { LogLevel } from "./host";
import { JsonKind, JsonReader, JsonValue, kindName } from "./json";

export const DEFAULT_HEADER = "x-trustplane-body-sha256";
export const LENGTH_HEADER_NAME = "x-trustplane-body-length";
// Envoy's default per-connection (and so decoder) buffer limit is 1 MiB
// (docs/envoy-integration.md F5.4).
export const DEFAULT_MAX_BODY_BYTES: u64 = 1048576;
// JSON numbers are doubles: larger integers cannot be written exactly.
const MAX_SAFE_INTEGER: f64 = 9007199254740991;

export class Config {
  /** Lower-cased UTF-8 name of the body-hash request header. */
  header: ArrayBuffer = String.UTF8.encode(DEFAULT_HEADER);
  headerName: string = DEFAULT_HEADER;
  maxBodyBytes: u64 = DEFAULT_MAX_BODY_BYTES;
  /** Lower-cased UTF-8 header name; null = no early 401. */
  passportHeader: ArrayBuffer | null = null;
  logLevel: u32 = LogLevel.INFO;

  /** Whether a message at `level` should be logged. */
  logs(level: u32): bool {
    return level >= this.logLevel;
  }
}

export class ConfigResult {
  config: Config | null = null;
  problems: Array<string> = new Array<string>();
}

function logLevelFromName(name: string): i32 {
  if (name == "trace") return <i32>LogLevel.TRACE;
  if (name == "debug") return <i32>LogLevel.DEBUG;
  if (name == "info") return <i32>LogLevel.INFO;
  if (name == "warn") return <i32>LogLevel.WARN;
  if (name == "error") return <i32>LogLevel.ERROR;
  if (name == "critical") return <i32>LogLevel.CRITICAL;
  return -1;
}

// RFC 9110 §5.6.2 tchar.
function isTokenChar(c: i32): bool {
  if (c >= 0x30 && c <= 0x39) return true;
  if (c >= 0x41 && c <= 0x5a) return true;
  if (c >= 0x61 && c <= 0x7a) return true;
  return c == 0x21 || c == 0x23 || c == 0x24 || c == 0x25 || c == 0x26 || c == 0x27 || c == 0x2a ||
    c == 0x2b || c == 0x2d || c == 0x2e || c == 0x5e || c == 0x5f || c == 0x60 || c == 0x7c || c == 0x7e;
}

/** Returns the lower-cased name, or null when it is not a usable request-header name. */
function headerName(value: string): string | null {
  if (value.length == 0) return null;
  for (let i = 0; i < value.length; i++) {
    // Pseudo-headers (":path") and non-token names cannot be set by the filter.
    if (!isTokenChar(value.charCodeAt(i))) return null;
  }
  // Envoy lower-cases keys on every header-map call (docs/envoy-integration.md F5.2); doing it here
  // makes the configured name and the name compared against in logs and docs the same string.
  return value.toLowerCase();
}

export function parseConfig(ptr: usize, size: usize): ConfigResult {
  const result = new ConfigResult();
  const config = new Config();
  // An unset `configuration` reaches the plugin as an empty buffer: all defaults.
  if (size == 0) {
    result.config = config;
    return result;
  }
  const reader = new JsonReader(ptr, size);
  const root = reader.parse();
  if (root === null) {
    result.problems.push("configuration is not valid JSON: " + reader.error);
    return result;
  }
  if (root.kind != JsonKind.Object) {
    result.problems.push("configuration must be a JSON object, got " + kindName(root.kind));
    return result;
  }
  const seen = new Set<string>();
  for (let i = 0; i < root.keys.length; i++) {
    const key = root.keys[i];
    const value: JsonValue = root.values[i];
    if (seen.has(key)) {
      result.problems.push("\"" + key + "\" appears more than once");
      continue;
    }
    seen.add(key);
    if (key == "header") {
      const name = value.kind == JsonKind.String ? headerName(value.string) : null;
      if (name === null) {
        result.problems.push("\"header\" must be a non-empty HTTP header name (token characters only)");
      } else {
        config.headerName = name;
        config.header = String.UTF8.encode(name);
      }
    } else if (key == "max_body_bytes") {
      const n = value.number;
      if (value.kind != JsonKind.Number || n < 0 || n != Math.floor(n) || n > MAX_SAFE_INTEGER || value.numberText.startsWith("-")) {
        result.problems.push("\"max_body_bytes\" must be an integer from 0 to 9007199254740991");
      } else {
        config.maxBodyBytes = <u64>n;
      }
    } else if (key == "require_passport_header") {
      if (value.kind == JsonKind.Null) {
        config.passportHeader = null;
      } else {
        const name = value.kind == JsonKind.String ? headerName(value.string) : null;
        if (name === null) {
          result.problems.push("\"require_passport_header\" must be null or a non-empty HTTP header name (token characters only)");
        } else {
          config.passportHeader = String.UTF8.encode(name);
        }
      }
    } else if (key == "log_level") {
      const level = value.kind == JsonKind.String ? logLevelFromName(value.string) : -1;
      if (level < 0) {
        result.problems.push("\"log_level\" must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", \"critical\"");
      } else {
        config.logLevel = <u32>level;
      }
    } else {
      result.problems.push("unknown key \"" + key + "\"");
    }
  }
  const passport = config.passportHeader;
  if (passport !== null && String.UTF8.decode(passport) == config.headerName) {
    // Replacing the hash header would then delete the credential the filter is asked to require.
    result.problems.push("\"header\" and \"require_passport_header\" must name different headers");
  }
  // The filter also replaces this header with the body length (docs/wasm-filter.md): naming it
  // here would make the two writes overwrite each other or delete the passport.
  if (config.headerName == LENGTH_HEADER_NAME) {
    result.problems.push("\"header\" must not be \"" + LENGTH_HEADER_NAME + "\" (the filter writes the body length there)");
  }
  if (passport !== null && String.UTF8.decode(passport) == LENGTH_HEADER_NAME) {
    result.problems.push("\"require_passport_header\" must not be \"" + LENGTH_HEADER_NAME + "\" (the filter writes the body length there)");
  }
  if (result.problems.length == 0) result.config = config;
  return result;
}
