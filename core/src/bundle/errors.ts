/**
 * Bundle failures are values with stable codes (docs/bundle.md, "Error codes"). Loading returns them
 * in result objects; the few places that must throw (signing an invalid document, a server that
 * cannot start without a bundle) throw a `BundleError` carrying the same code and problem list.
 */

/** Why a bundle was refused on load or reload. */
export type BundleErrorCode =
  | 'bundle_invalid'
  | 'bundle_unsigned'
  | 'bundle_signature_invalid'
  | 'bundle_signing_key_unknown'
  | 'bundle_expired'
  | 'bundle_not_yet_valid'
  | 'bundle_rollback';

/** Why an edit (build, merge-source, remove-source) produced nothing. */
export type BundleEditErrorCode =
  | 'bundle_invalid'
  | 'bundle_key_conflict'
  | 'bundle_route_unknown'
  | 'bundle_key_unknown'
  | 'bundle_confirm_required';

/** Why a bundle file could not be used by a watcher, beyond the verification codes. */
export type BundleSourceErrorCode = BundleErrorCode | 'bundle_unreadable' | 'bundle_state_invalid';

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
