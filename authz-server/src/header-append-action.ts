/**
 * envoy.config.core.v3.HeaderValueOption.HeaderAppendAction, in a module of its own: the response
 * builder needs this enum but not proto.ts, which loads the service definitions with
 * @grpc/proto-loader, so the middleware package (docs/middleware.md) can use the builder without
 * that dependency.
 */
export const HeaderAppendAction = Object.freeze({
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
} as const);
export type HeaderAppendAction = (typeof HeaderAppendAction)[keyof typeof HeaderAppendAction];
