/**
 * The development gateway's side of ext_authz, the side Envoy plays: CheckRequests written and
 * CheckResponses read with @grpc/proto-loader over protos/ (docs/envoy-integration.md F3). The server
 * does not use this: its edge is authz-server/src/envoy/. Loader options: proto field names
 * (`keepCase`), the `size` int64 as a string, enums as numbers, every scalar present after decoding
 * (`defaults`), the name of the set oneof member (`oneofs`).
 */
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import type * as grpc from '@grpc/grpc-js';
import { PACKAGE_ROOT } from '../../core/src/package-root.js';

const PROTO_DIR: string = join(PACKAGE_ROOT, 'protos');

const definition = protoLoader.loadSync(['envoy/service/auth/v3/external_auth.proto'], {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});

/** `envoy.service.auth.v3.Authorization`, with proto-loader's object codecs. */
export const AuthorizationClientService = definition['envoy.service.auth.v3.Authorization'] as unknown as grpc.ServiceDefinition;

/** What the gateway reads of a HeaderValueOption (envoy.config.core.v3). */
export interface HeaderValueOption {
  header: { key: string; value?: string };
  append?: { value: boolean } | null;
  append_action?: number;
}

/** What the gateway reads of a CheckResponse: exactly one of `denied_response` / `ok_response`. */
export interface CheckResponse {
  status?: { code: number; message: string };
  denied_response?: { status?: { code: number }; headers?: HeaderValueOption[]; body?: string } | null;
  ok_response?: { headers?: HeaderValueOption[]; headers_to_remove?: string[]; response_headers_to_add?: HeaderValueOption[] } | null;
}

/** A CheckRequest as proto-loader takes it (field names of protos/). */
export type CheckRequest = Record<string, unknown>;
