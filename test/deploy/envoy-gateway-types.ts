// Envoy Gateway's SecurityPolicy (gateway.envoyproxy.io/v1alpha1), only the fields the chart renders,
// transcribed from Envoy Gateway's API reference (https://gateway.envoyproxy.io/docs/api/extension_types/
// SecurityPolicy, ExtAuth, GRPCExtAuthService, BodyToExtAuth). No npm package ships these models;
// k8s.ts type-checks rendered SecurityPolicies against this so that an unknown or misspelt field
// still fails. Every field is optional here that is optional there.
interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
}
interface TargetRef {
  group: string;
  kind: 'Gateway' | 'HTTPRoute' | 'GRPCRoute';
  name: string;
  sectionName?: string;
}
export interface ISecurityPolicy {
  apiVersion: 'gateway.envoyproxy.io/v1alpha1';
  kind: 'SecurityPolicy';
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    targetRefs?: TargetRef[];
    extAuth?: {
      grpc?: { backendRefs?: BackendRef[] };
      http?: { backendRefs?: BackendRef[]; path?: string; headersToBackend?: string[] };
      headersToExtAuth?: string[];
      bodyToExtAuth?: { maxRequestBytes: number };
      failOpen?: boolean;
      recomputeRoute?: boolean;
    };
  };
}

// Istio's IstioOperator model has no schema for spec (the CRD preserves unknown fields), so the mesh
// overlay is checked against this transcription of MeshConfig from Istio's reference
// (https://istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/: MeshConfig.ExtensionProvider,
// EnvoyExternalAuthorizationGrpcProvider, ProxyPathNormalization), for the fields this repo sets.
export interface IIstioOperatorMeshOverlay {
  apiVersion: 'install.istio.io/v1alpha1';
  kind: 'IstioOperator';
  metadata: { name: string; namespace?: string };
  spec: {
    meshConfig: {
      pathNormalization?: { normalization: 'DEFAULT' | 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES' };
      extensionProviders?: {
        name: string;
        envoyExtAuthzGrpc?: {
          service: string;
          port: number;
          timeout?: string;
          pathPrefix?: string;
          failOpen?: boolean;
          clearRouteCache?: boolean;
          statusOnError?: string;
          includeRequestBodyInCheck?: { maxRequestBytes?: number; allowPartialMessage?: boolean; packAsBytes?: boolean };
        };
      }[];
    };
  };
}
