/**
 * The bytes a bundle signature covers: UTF-8 of the canonical JSON (sorted keys, no whitespace, safe
 * integers only; see encoding.ts) of the document without its `signature` member. Signing the
 * parsed value rather than the file lets a bundle be re-indented or re-ordered without breaking it.
 */
import { canonicalJson } from '../encoding.js';
import type { BundleDocument } from './types.js';

export function canonicalBundleBytes(bundle: BundleDocument): Buffer {
  const { signature: _omit, ...unsigned } = bundle;
  return Buffer.from(canonicalJson(unsigned), 'utf8');
}
