// Validates Envoy configuration (YAML/JSON already parsed into plain values) against Envoy's own API
// definitions, as vendored by the devDependency @grpc/grpc-js-xds under deps/ (envoy-api, googleapis,
// xds, protoc-gen-validate). No Envoy binary is needed.
//
// What is checked, following the proto3 JSON mapping Envoy uses to read YAML:
//   - every key names a field of the message (the proto name or its lowerCamel JSON name);
//   - a field is given at most once (not both as snake_case and camelCase) and at most one member of
//     a oneof is set;
//   - every google.protobuf.Any / typed_config has an "@type" that resolves, and its body is
//     validated recursively against that type (also xds/udpa TypedStruct);
//   - enums by name, scalars by JSON type and range, Duration/Timestamp/FieldMask strings, wrappers
//     as plain scalars, Struct/Value/ListValue as free JSON;
//   - a small subset of protoc-gen-validate rules: required messages, required oneofs, string
//     min_len, repeated min_items, numeric gt/gte/lt/lte (skipped for partial configs, such as an
//     Istio EnvoyFilter MERGE patch);
//   - deprecated fields are reported as warnings.
//
// The vendored definitions predate the Envoy release we require (1.35). Fields newer than them are
// added from NEWER_FIELDS below, each naming the Envoy version that introduced it; everything else is
// strict. When the vendored definitions catch up, `obsoleteNewerFields` lists the entries to delete.

import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** A field Envoy accepts but the vendored definitions do not know yet. */
export interface NewerField {
  readonly message: string;
  readonly name: string;
  readonly number: number;
  readonly type: string;
  readonly addedIn: string;
  readonly reference: string;
}

export const NEWER_FIELDS: readonly NewerField[] = Object.freeze([
  {
    message: 'envoy.extensions.wasm.v3.PluginConfig',
    name: 'allow_on_headers_stop_iteration',
    number: 9,
    type: 'google.protobuf.BoolValue',
    addedIn: 'Envoy v1.35.0',
    reference: 'envoyproxy/envoy#40213; docs/envoy-integration.md F5.4',
  },
]);

export interface ValidationResult {
  /** "path: message" lines; empty when the config is valid. */
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}

export interface ValidateOptions {
  /** Skip "required" checks: the value is a fragment merged into a larger config. */
  readonly partial?: boolean;
}

/** Istio EnvoyFilter `applyTo` → the Envoy message its patch value is. */
export const ENVOY_FILTER_PATCH_TYPES: Readonly<Record<string, string>> = Object.freeze({
  LISTENER: 'envoy.config.listener.v3.Listener',
  FILTER_CHAIN: 'envoy.config.listener.v3.FilterChain',
  NETWORK_FILTER: 'envoy.config.listener.v3.Filter',
  HTTP_FILTER: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter',
  ROUTE_CONFIGURATION: 'envoy.config.route.v3.RouteConfiguration',
  VIRTUAL_HOST: 'envoy.config.route.v3.VirtualHost',
  HTTP_ROUTE: 'envoy.config.route.v3.Route',
  CLUSTER: 'envoy.config.cluster.v3.Cluster',
  EXTENSION_CONFIG: 'envoy.config.core.v3.TypedExtensionConfig',
  BOOTSTRAP: 'envoy.config.bootstrap.v3.Bootstrap',
  LISTENER_FILTER: 'envoy.config.listener.v3.ListenerFilter',
});

const TYPE_URL_PREFIX = 'type.googleapis.com/';
const DEFINITION_ROOTS = ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'] as const;
// Only these trees are loaded; the rest of deps/ is tests and Java sources.
const LOAD_TREES = ['envoy-api/envoy', 'xds/xds', 'xds/udpa'] as const;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const UINT32_MAX = 4294967295;
// Envoy's Duration/Timestamp JSON: seconds with up to 9 fraction digits and an "s".
const DURATION_RE = /^-?\d+(\.\d{1,9})?s$/;
const MAX_DURATION_SECONDS = 315576000000;
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;
const INTEGER_STRING_RE = /^-?\d+$/;

// Well-known types with their own JSON form: inside an Any they sit under "value".
const SPECIAL_JSON_TYPES: ReadonlySet<string> = new Set(
  [
    'Any', 'Duration', 'Timestamp', 'FieldMask', 'Struct', 'Value', 'ListValue',
    'BoolValue', 'StringValue', 'BytesValue', 'DoubleValue', 'FloatValue',
    'Int32Value', 'UInt32Value', 'Int64Value', 'UInt64Value',
  ].map((n) => `.google.protobuf.${n}`),
);

type Path = string;

class Collector {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  error(path: Path, message: string): void {
    this.errors.push(`${path}: ${message}`);
  }
  warn(path: Path, message: string): void {
    this.warnings.push(`${path}: ${message}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `the ${typeof value} ${String(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** protoc's ToJsonName: drop each "_" and upper-case the letter after it. */
export function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, '');
}

function child(path: Path, key: string): Path {
  return path === '' ? key : `${path}.${key}`;
}

/** Walks up from this module to the directory that holds package.json. */
export function findRepoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}

function listProtos(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) listProtos(full, out);
    else if (entry.name.endsWith('.proto')) out.push(full);
  }
}

const IMPORT_RE = /^import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm;

/** Loads every vendored .proto whose imports are all present (v2-era files import a tree npm omits). */
function loadDefinitions(): { root: protobuf.Root; depsDir: string } {
  const xdsPackage = require.resolve('@grpc/grpc-js-xds/package.json');
  const depsDir = join(dirname(xdsPackage), 'deps');
  const protobufDir = dirname(require.resolve('protobufjs/package.json'));
  const roots = DEFINITION_ROOTS.map((r) => join(depsDir, r));

  const locate = (target: string): string | undefined => {
    for (const r of roots) {
      const p = join(r, target);
      if (existsSync(p)) return p;
    }
    // google/protobuf/*: protobufjs ships these (some also built in as "common" types).
    const p = join(protobufDir, target);
    return existsSync(p) ? p : undefined;
  };

  const loadable = new Map<string, boolean>();
  const isLoadable = (file: string): boolean => {
    const known = loadable.get(file);
    if (known !== undefined) return known;
    loadable.set(file, true); // breaks import cycles optimistically
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(IMPORT_RE)) {
      const target = match[1] as string;
      if (target.startsWith('google/protobuf/')) continue;
      const found = locate(target);
      if (found === undefined || !isLoadable(found)) {
        loadable.set(file, false);
        return false;
      }
    }
    return true;
  };

  const files: string[] = [];
  for (const tree of LOAD_TREES) listProtos(join(depsDir, tree), files);
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string =>
    isAbsolute(target) ? target : (locate(target) ?? target);
  root.loadSync(files.filter(isLoadable), { keepCase: true });
  return { root, depsDir };
}

interface FieldIndex {
  readonly byKey: ReadonlyMap<string, protobuf.Field>;
}

export class EnvoyConfigValidator {
  readonly depsDir: string;
  /** NEWER_FIELDS entries that the vendored definitions now define themselves: delete them. */
  readonly obsoleteNewerFields: readonly NewerField[];
  private readonly root: protobuf.Root;
  private readonly indexes = new Map<protobuf.Type, FieldIndex>();

  private static cached: EnvoyConfigValidator | undefined;

  /** Loading parses ~400 .proto files (a few hundred ms), so tests share one instance. */
  static shared(): EnvoyConfigValidator {
    EnvoyConfigValidator.cached ??= new EnvoyConfigValidator();
    return EnvoyConfigValidator.cached;
  }

  constructor() {
    const { root, depsDir } = loadDefinitions();
    const obsolete: NewerField[] = [];
    const added: protobuf.Field[] = [];
    for (const extra of NEWER_FIELDS) {
      const type = root.lookupType(extra.message);
      if (type.fields[extra.name] !== undefined || type.fieldsById[extra.number] !== undefined) {
        obsolete.push(extra);
        continue;
      }
      const field = new protobuf.Field(extra.name, extra.number, extra.type);
      type.add(field);
      added.push(field);
    }
    root.resolveAll();
    // protobufjs may already have resolved the tree while loading; resolve late additions explicitly.
    for (const field of added) field.resolve();
    this.root = root;
    this.depsDir = depsDir;
    this.obsoleteNewerFields = Object.freeze(obsolete);
  }

  /** Whether `fullName` (no leading dot) is a message type in the definitions. */
  hasMessage(fullName: string): boolean {
    return this.lookupMessage(fullName) !== undefined;
  }

  /** Validates `value` as the message `typeName`, e.g. envoy.config.bootstrap.v3.Bootstrap. */
  validate(typeName: string, value: unknown, options: ValidateOptions = {}, path: Path = ''): ValidationResult {
    const type = this.lookupMessage(typeName);
    if (type === undefined) throw new TypeError(`unknown message type ${typeName}`);
    const out = new Collector();
    this.checkMessage(type, value, path, out, options.partial === true);
    return { errors: out.errors, warnings: out.warnings };
  }

  /** A whole Envoy bootstrap file, such as envoy/envoy.yaml. */
  validateBootstrap(value: unknown): ValidationResult {
    return this.validate('envoy.config.bootstrap.v3.Bootstrap', value);
  }

  /**
   * The Envoy parts of an Istio EnvoyFilter: each configPatches[i].patch.value against the message
   * its applyTo names. MERGE patches are fragments, so required-field rules are not applied to them.
   */
  validateEnvoyFilter(doc: unknown): ValidationResult {
    const out = new Collector();
    const spec = isPlainObject(doc) ? doc['spec'] : undefined;
    const patches = isPlainObject(spec) ? spec['configPatches'] : undefined;
    if (!Array.isArray(patches)) {
      out.error('spec.configPatches', 'an EnvoyFilter needs a list of configPatches');
      return out;
    }
    patches.forEach((entry: unknown, i) => {
      const base = `spec.configPatches[${i}]`;
      if (!isPlainObject(entry)) {
        out.error(base, `expected a mapping, got ${describe(entry)}`);
        return;
      }
      const applyTo = entry['applyTo'];
      const patch = entry['patch'];
      const typeName = typeof applyTo === 'string' ? ENVOY_FILTER_PATCH_TYPES[applyTo] : undefined;
      if (typeName === undefined) {
        out.error(`${base}.applyTo`, `cannot validate applyTo ${describe(applyTo)}`);
        return;
      }
      if (!isPlainObject(patch)) {
        out.error(`${base}.patch`, `expected a mapping, got ${describe(patch)}`);
        return;
      }
      if (patch['operation'] === 'REMOVE') return;
      const type = this.lookupMessage(typeName) as protobuf.Type;
      this.checkMessage(type, patch['value'], `${base}.patch.value`, out, patch['operation'] === 'MERGE');
    });
    return out;
  }

  private lookupMessage(fullName: string): protobuf.Type | undefined {
    const found = this.root.lookup(fullName.startsWith('.') ? fullName : `.${fullName}`);
    return found instanceof protobuf.Type ? found : undefined;
  }

  private index(type: protobuf.Type): FieldIndex {
    let idx = this.indexes.get(type);
    if (idx === undefined) {
      const byKey = new Map<string, protobuf.Field>();
      for (const field of type.fieldsArray) {
        byKey.set(field.name, field);
        byKey.set(jsonName(field.name), field);
      }
      idx = { byKey };
      this.indexes.set(type, idx);
    }
    return idx;
  }

  private checkMessage(type: protobuf.Type, value: unknown, path: Path, out: Collector, partial: boolean): void {
    if (this.checkWellKnown(type, value, path, out, partial)) return;
    if (!isPlainObject(value)) {
      out.error(path || '(root)', `expected a mapping for ${type.fullName.slice(1)}, got ${describe(value)}`);
      return;
    }
    const { byKey } = this.index(type);
    const seen = new Map<protobuf.Field, string>();
    for (const [key, fieldValue] of Object.entries(value)) {
      const fieldPath = child(path, key);
      const field = byKey.get(key);
      if (field === undefined) {
        out.error(fieldPath, `unknown field in ${type.fullName.slice(1)}`);
        continue;
      }
      const earlier = seen.get(field);
      if (earlier !== undefined) {
        out.error(fieldPath, `field ${field.name} is given twice (as ${earlier} and ${key})`);
        continue;
      }
      seen.set(field, key);
      if (field.options?.['deprecated'] === true) {
        out.warn(fieldPath, `deprecated field of ${type.fullName.slice(1)}`);
      }
      this.checkField(field, fieldValue, fieldPath, out, partial);
    }

    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => seen.has(f));
      if (set.length > 1) {
        const names = set.map((f) => seen.get(f) as string).join(' and ');
        out.error(path || '(root)', `${names} are both set, but they belong to oneof ${oneof.name}`);
      }
      if (!partial && set.length === 0 && oneof.options?.['(validate.required)'] === true) {
        const names = oneof.fieldsArray.map((f) => f.name).join(', ');
        out.error(path || '(root)', `oneof ${oneof.name} requires one of: ${names}`);
      }
    }
    if (!partial) {
      for (const field of type.fieldsArray) {
        // A rule on a oneof member applies only when that member is the one chosen.
        const inRealOneof = field.partOf !== null && field.partOf !== undefined && !field.partOf.name.startsWith('_');
        if (!seen.has(field) && !inRealOneof && field.options?.['(validate.rules).message.required'] === true) {
          out.error(child(path, field.name), `required field of ${type.fullName.slice(1)} is missing`);
        }
      }
    }
  }

  private checkField(field: protobuf.Field, value: unknown, path: Path, out: Collector, partial: boolean): void {
    if (value === null) {
      if (field.resolvedType?.fullName === '.google.protobuf.Value') return;
      out.error(path, 'is null; omit the field instead');
      return;
    }
    if (field instanceof protobuf.MapField) {
      if (!isPlainObject(value)) {
        out.error(path, `expected a mapping, got ${describe(value)}`);
        return;
      }
      for (const [key, entry] of Object.entries(value)) {
        this.checkMapKey(field.keyType, key, `${path}[${JSON.stringify(key)}]`, out);
        this.checkSingle(field, entry, `${path}[${JSON.stringify(key)}]`, out, partial);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        out.error(path, `expected a list, got ${describe(value)}`);
        return;
      }
      const minItems = field.options?.['(validate.rules).repeated.min_items'];
      if (!partial && typeof minItems === 'number' && value.length < minItems) {
        out.error(path, `needs at least ${minItems} item(s), got ${value.length}`);
      }
      value.forEach((item: unknown, i) => this.checkSingle(field, item, `${path}[${i}]`, out, partial));
      return;
    }
    this.checkSingle(field, value, path, out, partial);
  }

  private checkMapKey(keyType: string, key: string, path: Path, out: Collector): void {
    if (keyType === 'string') return;
    if (keyType === 'bool') {
      if (key !== 'true' && key !== 'false') out.error(path, 'map key must be "true" or "false"');
      return;
    }
    if (!INTEGER_STRING_RE.test(key)) out.error(path, `map key must be an integer (${keyType})`);
  }

  private checkSingle(field: protobuf.Field, value: unknown, path: Path, out: Collector, partial: boolean): void {
    if (value === null) {
      if (field.resolvedType?.fullName === '.google.protobuf.Value') return;
      out.error(path, 'is null; omit the field instead');
      return;
    }
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      this.checkMessage(resolved, value, path, out, partial);
      return;
    }
    if (resolved instanceof protobuf.Enum) {
      this.checkEnum(resolved, value, path, out);
      return;
    }
    this.checkScalar(field.type, value, path, out);
    if (!partial) this.checkScalarRules(field, value, path, out);
  }

  private checkEnum(enumType: protobuf.Enum, value: unknown, path: Path, out: Collector): void {
    const name = enumType.fullName.slice(1);
    if (typeof value !== 'string') {
      out.error(path, `enum ${name} must be given by name, got ${describe(value)}`);
      return;
    }
    if (!Object.prototype.hasOwnProperty.call(enumType.values, value)) {
      const allowed = Object.keys(enumType.values).join(', ');
      out.error(path, `${JSON.stringify(value)} is not a value of enum ${name} (expected one of ${allowed})`);
    }
  }

  private checkScalar(kind: string, value: unknown, path: Path, out: Collector): void {
    switch (kind) {
      case 'string':
        if (typeof value !== 'string') out.error(path, `expected a string, got ${describe(value)}`);
        return;
      case 'bool':
        if (typeof value !== 'boolean') out.error(path, `expected true or false, got ${describe(value)}`);
        return;
      case 'bytes':
        if (typeof value !== 'string' || !BASE64_RE.test(value)) {
          out.error(path, `expected base64 bytes, got ${describe(value)}`);
        }
        return;
      case 'double':
      case 'float':
        if (typeof value === 'number') return;
        if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return;
        if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return;
        out.error(path, `expected a number (${kind}), got ${describe(value)}`);
        return;
      case 'int32':
      case 'sint32':
      case 'sfixed32':
        this.checkInteger(kind, value, INT32_MIN, INT32_MAX, path, out);
        return;
      case 'uint32':
      case 'fixed32':
        this.checkInteger(kind, value, 0, UINT32_MAX, path, out);
        return;
      case 'int64':
      case 'sint64':
      case 'sfixed64':
        this.checkInteger(kind, value, -(2n ** 63n), 2n ** 63n - 1n, path, out);
        return;
      case 'uint64':
      case 'fixed64':
        this.checkInteger(kind, value, 0n, 2n ** 64n - 1n, path, out);
        return;
      default:
        out.error(path, `unsupported field type ${kind}`);
    }
  }

  private checkInteger(
    kind: string,
    value: unknown,
    min: number | bigint,
    max: number | bigint,
    path: Path,
    out: Collector,
  ): void {
    let n: bigint;
    if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
    else if (typeof value === 'string' && INTEGER_STRING_RE.test(value)) n = BigInt(value);
    else {
      out.error(path, `expected an integer (${kind}), got ${describe(value)}`);
      return;
    }
    if (n < BigInt(min) || n > BigInt(max)) out.error(path, `${n} is out of range for ${kind}`);
  }

  /** The protoc-gen-validate rules worth checking statically; RE2 patterns are left to Envoy. */
  private checkScalarRules(field: protobuf.Field, value: unknown, path: Path, out: Collector): void {
    const options = field.options;
    if (options === undefined) return;
    if (typeof value === 'string') {
      const minLen = options['(validate.rules).string.min_len'];
      if (typeof minLen === 'number' && Buffer.byteLength(value) < minLen) {
        out.error(path, `must be at least ${minLen} byte(s) long`);
      }
    }
    const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
    if (Number.isNaN(n)) return;
    const family = field.type;
    const rule = (name: string): unknown => options[`(validate.rules).${family}.${name}`];
    const gt = rule('gt');
    const gte = rule('gte');
    const lt = rule('lt');
    const lte = rule('lte');
    if (typeof gt === 'number' && !(n > gt)) out.error(path, `must be greater than ${gt}`);
    if (typeof gte === 'number' && !(n >= gte)) out.error(path, `must be at least ${gte}`);
    if (typeof lt === 'number' && !(n < lt)) out.error(path, `must be less than ${lt}`);
    if (typeof lte === 'number' && !(n <= lte)) out.error(path, `must be at most ${lte}`);
  }

  /**
   * Types whose JSON form is not a plain message: returns true when it handled `value`.
   * (proto3 JSON mapping, as Envoy's YAML loader applies it.)
   */
  private checkWellKnown(type: protobuf.Type, value: unknown, path: Path, out: Collector, partial: boolean): boolean {
    const at = path || '(root)';
    switch (type.fullName) {
      case '.google.protobuf.Any':
        this.checkAny(value, path, out, partial);
        return true;
      case '.google.protobuf.Duration': {
        if (typeof value !== 'string' || !DURATION_RE.test(value)) {
          out.error(at, `${describe(value)} is not a google.protobuf.Duration (expected a string such as "0.25s")`);
        } else if (Math.abs(Number.parseFloat(value)) > MAX_DURATION_SECONDS) {
          out.error(at, `${JSON.stringify(value)} is out of range for google.protobuf.Duration`);
        }
        return true;
      }
      case '.google.protobuf.Timestamp':
        if (typeof value !== 'string' || !TIMESTAMP_RE.test(value)) {
          out.error(at, `${describe(value)} is not an RFC 3339 google.protobuf.Timestamp`);
        }
        return true;
      case '.google.protobuf.FieldMask':
        if (typeof value !== 'string') out.error(at, `expected a comma-separated field mask, got ${describe(value)}`);
        return true;
      case '.google.protobuf.Empty':
        if (!isPlainObject(value) || Object.keys(value).length > 0) {
          out.error(at, `google.protobuf.Empty must be {}, got ${describe(value)}`);
        }
        return true;
      case '.google.protobuf.Struct':
        if (!isPlainObject(value)) out.error(at, `expected a mapping (google.protobuf.Struct), got ${describe(value)}`);
        return true;
      case '.google.protobuf.ListValue':
        if (!Array.isArray(value)) out.error(at, `expected a list (google.protobuf.ListValue), got ${describe(value)}`);
        return true;
      case '.google.protobuf.Value':
        return true;
      case '.google.protobuf.BoolValue':
        this.checkScalar('bool', value, at, out);
        return true;
      case '.google.protobuf.StringValue':
        this.checkScalar('string', value, at, out);
        return true;
      case '.google.protobuf.BytesValue':
        this.checkScalar('bytes', value, at, out);
        return true;
      case '.google.protobuf.DoubleValue':
        this.checkScalar('double', value, at, out);
        return true;
      case '.google.protobuf.FloatValue':
        this.checkScalar('float', value, at, out);
        return true;
      case '.google.protobuf.Int32Value':
        this.checkScalar('int32', value, at, out);
        return true;
      case '.google.protobuf.UInt32Value':
        this.checkScalar('uint32', value, at, out);
        return true;
      case '.google.protobuf.Int64Value':
        this.checkScalar('int64', value, at, out);
        return true;
      case '.google.protobuf.UInt64Value':
        this.checkScalar('uint64', value, at, out);
        return true;
      case '.xds.type.v3.TypedStruct':
      case '.udpa.type.v1.TypedStruct':
        this.checkTypedStruct(type, value, path, out, partial);
        return true;
      default:
        return false;
    }
  }

  private resolveTypeUrl(url: unknown, path: Path, out: Collector): protobuf.Type | undefined {
    if (typeof url !== 'string') {
      out.error(path, `expected a type URL string, got ${describe(url)}`);
      return undefined;
    }
    const slash = url.lastIndexOf('/');
    const prefix = url.slice(0, slash + 1);
    const type = slash > 0 ? this.lookupMessage(url.slice(slash + 1)) : undefined;
    if (prefix !== TYPE_URL_PREFIX || type === undefined) {
      out.error(path, `${url} does not resolve to a known message type`);
      return undefined;
    }
    return type;
  }

  private checkAny(value: unknown, path: Path, out: Collector, partial: boolean): void {
    const at = path || '(root)';
    if (!isPlainObject(value)) {
      out.error(at, `expected a mapping with "@type" (google.protobuf.Any), got ${describe(value)}`);
      return;
    }
    if (!('@type' in value)) {
      out.error(at, 'google.protobuf.Any needs an "@type"');
      return;
    }
    const type = this.resolveTypeUrl(value['@type'], child(path, '@type'), out);
    if (type === undefined) return;
    const { '@type': _typeUrl, ...body } = value;
    if (this.hasSpecialJson(type)) {
      // Well-known types keep their JSON form under "value" inside an Any.
      const extra = Object.keys(body).filter((k) => k !== 'value');
      for (const k of extra) out.error(child(path, k), `unknown field in google.protobuf.Any of ${type.fullName.slice(1)}`);
      if (!('value' in body)) {
        out.error(at, `an Any of ${type.fullName.slice(1)} needs "value"`);
        return;
      }
      this.checkMessage(type, body['value'], child(path, 'value'), out, partial);
      return;
    }
    this.checkMessage(type, body, path, out, partial);
  }

  private checkTypedStruct(type: protobuf.Type, value: unknown, path: Path, out: Collector, partial: boolean): void {
    const at = path || '(root)';
    if (!isPlainObject(value)) {
      out.error(at, `expected a mapping (${type.fullName.slice(1)}), got ${describe(value)}`);
      return;
    }
    for (const key of Object.keys(value)) {
      if (key !== 'type_url' && key !== 'typeUrl' && key !== 'value') {
        out.error(child(path, key), `unknown field in ${type.fullName.slice(1)}`);
      }
    }
    const url = value['type_url'] ?? value['typeUrl'];
    const target = this.resolveTypeUrl(url, child(path, 'type_url'), out);
    if (target !== undefined && value['value'] !== undefined) {
      this.checkMessage(target, value['value'], child(path, 'value'), out, partial);
    }
  }

  private hasSpecialJson(type: protobuf.Type): boolean {
    return SPECIAL_JSON_TYPES.has(type.fullName);
  }
}
