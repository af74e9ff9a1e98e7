/**
 * The one entry point to @peculiar/x509: installs what the library needs (a Reflect metadata API and
 * a WebCrypto provider) before anyone uses it. Import `x509` from here, never from the package.
 */
import './lib/reflect-metadata.js';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node 20 ships a complete WebCrypto (ECDSA, RSA, Ed25519); the library has no default in Node.
x509.cryptoProvider.set(webcrypto as never);

export { x509 };
