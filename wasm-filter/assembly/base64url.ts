// RFC 4648 §5 base64url without padding: the form of the body-hash header (43 characters for a
// SHA-256 digest), matching what the authz server decodes.

const ALPHABET: usize = memory.data<u8>([
  65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, // A-Z
  97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118,
  119, 120, 121, 122, // a-z
  48, 49, 50, 51, 52, 53, 54, 55, 56, 57, // 0-9
  45, 95, // - _
]);

/** Output length of `encode` for `n` input bytes. */
export function encodedLength(n: usize): usize {
  return (n / 3) * 4 + (n % 3 == 0 ? 0 : (n % 3) + 1);
}

/** Writes the unpadded base64url form of `[src, src + n)` to `dst`; returns the bytes written. */
export function encode(src: usize, n: usize, dst: usize): usize {
  let out = dst;
  let i: usize = 0;
  for (; i + 3 <= n; i += 3) {
    const v = (<u32>load<u8>(src + i) << 16) | (<u32>load<u8>(src + i + 1) << 8) | <u32>load<u8>(src + i + 2);
    store<u8>(out, load<u8>(ALPHABET + ((v >>> 18) & 63)), 0);
    store<u8>(out, load<u8>(ALPHABET + ((v >>> 12) & 63)), 1);
    store<u8>(out, load<u8>(ALPHABET + ((v >>> 6) & 63)), 2);
    store<u8>(out, load<u8>(ALPHABET + (v & 63)), 3);
    out += 4;
  }
  const rest = n - i;
  if (rest == 1) {
    const v = <u32>load<u8>(src + i) << 16;
    store<u8>(out, load<u8>(ALPHABET + ((v >>> 18) & 63)), 0);
    store<u8>(out, load<u8>(ALPHABET + ((v >>> 12) & 63)), 1);
    out += 2;
  } else if (rest == 2) {
    const v = (<u32>load<u8>(src + i) << 16) | (<u32>load<u8>(src + i + 1) << 8);
    store<u8>(out, load<u8>(ALPHABET + ((v >>> 18) & 63)), 0);
    store<u8>(out, load<u8>(ALPHABET + ((v >>> 12) & 63)), 1);
    store<u8>(out, load<u8>(ALPHABET + ((v >>> 6) & 63)), 2);
    out += 3;
  }
  return out - dst;
}
