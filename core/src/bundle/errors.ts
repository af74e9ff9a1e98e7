/**
 * Bundle failures are values with stable codes (docs/bundle.md, "Error codes"; a test fails when the
 * lists here and that table disagree). Loading returns them in result objects; the few places that
 * must throw (signing an invalid document, a server that cannot start without a bundle) throw a
 * `BundleError` carrying the same code and problem list.
 */

/** Why a bundle was refused on load or reload. */
export const BUNDLE_ERROR_CODES = Object.freeze([
  'bundle_invalid',
  'bundle_unsigned',
  'bundle_signature_invalid',
  'bundle_signing_key_unknown',
  'bundle_expired',
  'bundle_not_yet_valid',
  'bundle_rollback',
] as const);
export type BundleErrorCode = (typeof BUNDLE_ERROR_CODES)[number];

/** Why an edit (build, merge-source, import-jwks, remove-source) produced nothing. */
export const BUNDLE_EDIT_ERROR_CODES = Object.freeze([
  'bundle_invalid',
  'bundle_key_conflict',
  'bundle_route_unknown',
  'bundle_key_unknown',
  'bundle_confirm_required',
  'bundle_key_revoked',
] as const);
export type BundleEditErrorCode = (typeof BUNDLE_EDIT_ERROR_CODES)[number];

/** Why a watched bundle file could not be used, beyond the verification codes. */
export const BUNDLE_SOURCE_ERROR_CODES = Object.freeze([...BUNDLE_ERROR_CODES, 'bundle_unreadable', 'bundle_state_invalid'] as const);
export type BundleSourceErrorCode = (typeof BUNDLE_SOURCE_ERROR_CODES)[number];

export type AnyBundleErrorCode = BundleSourceErrorCode | BundleEditErrorCode;

export class BundleError extends Error {
  readonly code: AnyBundleErrorCode;
  readonly problems: readonly string[];

  constructor(code: AnyBundleErrorCode, problems: readonly string[]) {
    super(`${code}: ${problems.join('; ')}`);
    this.name = 'BundleError';
    this.code = code;
    this.problems = Object.freeze([...problems]);
  }
}
