// A small strict JSON (RFC 8259) reader for the plugin configuration. The configuration is parsed
// once per root context (proxy_on_configure), so clarity beats speed here.

export enum JsonKind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  bool: bool = false;
  number: f64 = 0;
  /** The number exactly as written, so integers above 2^53 can be refused instead of rounded. */
  numberText: string = "";
  string: string = "";
  items: Array<JsonValue> = new Array<JsonValue>();
  keys: Array<string> = new Array<string>();
  values: Array<JsonValue> = new Array<JsonValue>();

  static of(kind: JsonKind): JsonValue {
    const v = new JsonValue();
    v.kind = kind;
    return v;
  }
}

export function kindName(kind: JsonKind): string {
  switch (kind) {
    case JsonKind.Null: return "null";
    case JsonKind.Bool: return "a boolean";
    case JsonKind.Number: return "a number";
    case JsonKind.String: return "a string";
    case JsonKind.Array: return "an array";
    default: return "an object";
  }
}

// Nesting bound: the configuration is flat; a deep document is hostile or broken.
const MAX_DEPTH: i32 = 32;

export class JsonReader {
  private pos: usize = 0;
  /** Empty when parsing succeeded. */
  error: string = "";

  constructor(private readonly ptr: usize, private readonly size: usize) {}

  /** Parses one document; trailing non-whitespace is an error. */
  parse(): JsonValue | null {
    this.skipSpace();
    const value = this.value(0);
    if (value === null) return null;
    this.skipSpace();
    if (this.pos < this.size) return this.fail("unexpected data after the JSON value");
    return value;
  }

  private fail(message: string): JsonValue | null {
    if (this.error.length == 0) this.error = message + " at byte " + this.pos.toString();
    return null;
  }

  private peek(): u32 {
    return this.pos < this.size ? <u32>load<u8>(this.ptr + this.pos) : 0xffffffff;
  }

  private skipSpace(): void {
    while (this.pos < this.size) {
      const c = load<u8>(this.ptr + this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.pos++;
    }
  }

  private literal(word: string): bool {
    const n = <usize>word.length;
    if (this.pos + n > this.size) return false;
    for (let i: usize = 0; i < n; i++) {
      if (<u32>load<u8>(this.ptr + this.pos + i) != <u32>word.charCodeAt(<i32>i)) return false;
    }
    this.pos += n;
    return true;
  }

  private value(depth: i32): JsonValue | null {
    if (depth > MAX_DEPTH) return this.fail("JSON nested too deeply");
    const c = this.peek();
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const s = this.string();
      if (s === null) return null;
      const v = JsonValue.of(JsonKind.String);
      v.string = s;
      return v;
    }
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.literal("null")) return JsonValue.of(JsonKind.Null);
    if (this.literal("true")) {
      const v = JsonValue.of(JsonKind.Bool);
      v.bool = true;
      return v;
    }
    if (this.literal("false")) return JsonValue.of(JsonKind.Bool);
    return this.fail(c == 0xffffffff ? "unexpected end of JSON" : "unexpected character in JSON");
  }

  private object(depth: i32): JsonValue | null {
    this.pos++; // {
    const v = JsonValue.of(JsonKind.Object);
    this.skipSpace();
    if (this.peek() == 0x7d) {
      this.pos++;
      return v;
    }
    while (true) {
      this.skipSpace();
      if (this.peek() != 0x22) return this.fail("expected a string key");
      const key = this.string();
      if (key === null) return null;
      this.skipSpace();
      if (this.peek() != 0x3a) return this.fail("expected ':'");
      this.pos++;
      this.skipSpace();
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.keys.push(key);
      v.values.push(item);
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x7d) return v;
      if (c != 0x2c) {
        this.pos--;
        return this.fail("expected ',' or '}'");
      }
    }
    return null; // unreachable; keeps the compiler's flow analysis satisfied
  }

  private array(depth: i32): JsonValue | null {
    this.pos++; // [
    const v = JsonValue.of(JsonKind.Array);
    this.skipSpace();
    if (this.peek() == 0x5d) {
      this.pos++;
      return v;
    }
    while (true) {
      this.skipSpace();
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.items.push(item);
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x5d) return v;
      if (c != 0x2c) {
        this.pos--;
        return this.fail("expected ',' or ']'");
      }
    }
    return null;
  }

  private hex4(): i32 {
    if (this.pos + 4 > this.size) return -1;
    let n: i32 = 0;
    for (let i = 0; i < 4; i++) {
      const c = <i32>load<u8>(this.ptr + this.pos++);
      let d: i32;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
      else return -1;
      n = (n << 4) | d;
    }
    return n;
  }

  /** Reads a string at a '"'; returns null (and sets `error`) when malformed. */
  private string(): string | null {
    this.pos++; // "
    let out = "";
    let runStart = this.pos;
    while (true) {
      if (this.pos >= this.size) {
        this.fail("unterminated string");
        return null;
      }
      const c = load<u8>(this.ptr + this.pos);
      if (c == 0x22) {
        out += String.UTF8.decodeUnsafe(this.ptr + runStart, this.pos - runStart);
        this.pos++;
        return out;
      }
      if (c < 0x20) {
        this.fail("control character in string");
        return null;
      }
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      out += String.UTF8.decodeUnsafe(this.ptr + runStart, this.pos - runStart);
      this.pos++;
      const e = this.peek();
      this.pos++;
      if (e == 0x22) out += "\"";
      else if (e == 0x5c) out += "\\";
      else if (e == 0x2f) out += "/";
      else if (e == 0x62) out += "\b";
      else if (e == 0x66) out += "\f";
      else if (e == 0x6e) out += "\n";
      else if (e == 0x72) out += "\r";
      else if (e == 0x74) out += "\t";
      else if (e == 0x75) {
        const unit = this.hex4();
        if (unit < 0) {
          this.fail("bad \\u escape");
          return null;
        }
        out += String.fromCharCode(unit);
      } else {
        this.pos--;
        this.fail("bad escape");
        return null;
      }
      runStart = this.pos;
    }
    return null;
  }

  /** RFC 8259 §6 number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
  private number(): JsonValue | null {
    const start = this.pos;
    if (this.peek() == 0x2d) this.pos++;
    const first = this.peek();
    if (first == 0x30) {
      this.pos++;
    } else if (first >= 0x31 && first <= 0x39) {
      while (this.peek() >= 0x30 && this.peek() <= 0x39) this.pos++;
    } else {
      return this.fail("bad number");
    }
    if (this.peek() == 0x2e) {
      this.pos++;
      if (!(this.peek() >= 0x30 && this.peek() <= 0x39)) return this.fail("bad number");
      while (this.peek() >= 0x30 && this.peek() <= 0x39) this.pos++;
    }
    if (this.peek() == 0x65 || this.peek() == 0x45) {
      this.pos++;
      if (this.peek() == 0x2b || this.peek() == 0x2d) this.pos++;
      if (!(this.peek() >= 0x30 && this.peek() <= 0x39)) return this.fail("bad number");
      while (this.peek() >= 0x30 && this.peek() <= 0x39) this.pos++;
    }
    const v = JsonValue.of(JsonKind.Number);
    v.numberText = String.UTF8.decodeUnsafe(this.ptr + start, this.pos - start);
    v.number = parseFloat(v.numberText);
    return v;
  }
}
