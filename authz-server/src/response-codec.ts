/**
 * A direct protobuf encoder for the CheckResponse messages this server builds. proto-loader's
 * generic serializer converts the object (`fromObject`) before encoding, which cost 30–55 µs per
 * check — a large share of what a check costs above its two signature verifications. The field
 * numbers are those of protos/ (envoy-facts §3); the wire-compat tests decode what this writes with
 * Envoy's official definitions.
 */
import protobuf from 'protobufjs/minimal.js';
import type { CheckResponse, HeaderValueOption, QueryParameter, Struct, Value } from './proto.js';

const { Writer } = protobuf;
type W = protobuf.Writer;

// wire types
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const tag = (field: number, wire: number): number => ((field << 3) | wire) >>> 0;

function str(w: W, field: number, v: string | undefined): void {
  if (v !== undefined && v !== '') w.uint32(tag(field, LEN)).string(v);
}

function sub(w: W, field: number, body: (w: W) => void): void {
  w.uint32(tag(field, LEN)).fork();
  body(w);
  w.ldelim();
}

function headerOption(w: W, o: HeaderValueOption): void {
  sub(w, 1, (h) => {
    str(h, 1, o.header.key);
    str(h, 2, o.header.value);
    if (o.header.raw_value && o.header.raw_value.length > 0) h.uint32(tag(3, LEN)).bytes(o.header.raw_value);
  });
  if (o.append !== undefined && o.append !== null) sub(w, 2, (b) => (o.append!.value ? b.uint32(tag(1, VARINT)).bool(true) : b));
  if (o.append_action) w.uint32(tag(3, VARINT)).int32(o.append_action);
  if (o.keep_empty_value) w.uint32(tag(4, VARINT)).bool(true);
}

function headerOptions(w: W, field: number, list: readonly HeaderValueOption[] | undefined): void {
  for (const o of list ?? []) sub(w, field, (x) => headerOption(x, o));
}

function queryParams(w: W, field: number, list: readonly QueryParameter[] | undefined): void {
  for (const q of list ?? []) sub(w, field, (x) => (str(x, 1, q.key), str(x, 2, q.value)));
}

function value(w: W, v: Value): void {
  if (v.nullValue !== undefined) w.uint32(tag(1, VARINT)).int32(0);
  else if (v.numberValue !== undefined) w.uint32(tag(2, I64)).double(v.numberValue);
  else if (v.stringValue !== undefined) w.uint32(tag(3, LEN)).string(v.stringValue);
  else if (v.boolValue !== undefined) w.uint32(tag(4, VARINT)).bool(v.boolValue);
  else if (v.structValue !== undefined) sub(w, 5, (x) => struct(x, v.structValue!));
  else if (v.listValue !== undefined) sub(w, 6, (x) => v.listValue!.values.forEach((item) => sub(x, 1, (y) => value(y, item))));
}

function struct(w: W, s: Struct): void {
  for (const [k, v] of Object.entries(s.fields)) {
    // map<string, Value> entries are messages {key = 1, value = 2}
    sub(w, 1, (e) => {
      e.uint32(tag(1, LEN)).string(k);
      sub(e, 2, (x) => value(x, v));
    });
  }
}

export function encodeCheckResponseFast(r: CheckResponse): Buffer {
  const w = Writer.create();
  sub(w, 1, (s) => {
    if (r.status.code) s.uint32(tag(1, VARINT)).int32(r.status.code);
    str(s, 2, r.status.message);
  });
  if ('denied_response' in r && r.denied_response) {
    const d = r.denied_response;
    sub(w, 2, (x) => {
      sub(x, 1, (st) => (d.status.code ? st.uint32(tag(1, VARINT)).int32(d.status.code) : st));
      headerOptions(x, 2, d.headers);
      str(x, 3, d.body);
    });
  } else if ('ok_response' in r && r.ok_response) {
    const o = r.ok_response;
    sub(w, 3, (x) => {
      headerOptions(x, 2, o.headers);
      for (const h of o.headers_to_remove ?? []) x.uint32(tag(5, LEN)).string(h);
      headerOptions(x, 6, o.response_headers_to_add);
      queryParams(x, 7, o.query_parameters_to_set);
      for (const q of o.query_parameters_to_remove ?? []) x.uint32(tag(8, LEN)).string(q);
    });
  }
  if (r.dynamic_metadata) sub(w, 4, (x) => struct(x, r.dynamic_metadata!));
  const out = w.finish();
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}
