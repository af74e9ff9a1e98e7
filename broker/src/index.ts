/** The broker's public surface: start it, configure it, call it. */
export { startBroker, type BrokerDeps, type RunningBroker } from './broker.js';
export { loadBrokerConfig, parseBrokerConfig, DEFAULTS as BROKER_DEFAULTS, type BrokerConfig, type SocketGroup } from './config.js';
export { ConfigError } from '../../service/src/config.js';
export { BROKER_ERRORS, BROKER_ERROR_CODES, type BrokerErrorCode } from './errors.js';
export { createLogger, type Logger } from '../../service/src/log.js';
export { BrokerKeyError } from './signing-key.js';
export { BrokerSocketError } from './socket.js';
export { parseSpiffeId } from './spiffe.js';
export { requestPassport, spiffePop, fetchTrustEntry, BrokerRequestError, type PassportResponse, type SpiffePopOptions } from './client.js';
