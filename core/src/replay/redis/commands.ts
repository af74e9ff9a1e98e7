/**
 * The two Lua scripts of the Redis replay store (core/src/replay/redis.ts) and how they are sent:
 * consume is one round trip that checks the generation marker and then runs
 * `SET <prefix><sha256(key)> 1 PX <ttl> NX`, atomically (Redis runs a script as one step); the
 * generation script reads the marker, creating it when missing.
 */
import type { Cluster, Redis } from 'ioredis';
import { ioredis } from './connection.js';

/** How long after the consume's own wait ioredis drops a command that never got a reply. */
const COMMAND_BACKSTOP_MS = 1000;

/**
 * KEYS[1] the generation marker, KEYS[2] the replay key; ARGV[1] the marker value this client
 * knows ('' when none yet), ARGV[2] the TTL in ms, ARGV[3] the value to create a missing marker
 * with. Returns 1 consumed, 0 replayed, or the current marker (a string) when it is not the known
 * one, having written nothing but a missing marker.
 */
const CONSUME_LUA = `
local g = redis.call('GET', KEYS[1])
if g ~= ARGV[1] then
  if not g then
    redis.call('SET', KEYS[1], ARGV[3])
    return ARGV[3]
  end
  return g
end
if redis.call('SET', KEYS[2], '1', 'PX', ARGV[2], 'NX') then return 1 end
return 0
`;

/** KEYS[1] the generation marker; ARGV[1] the value to create it with. Returns the current marker. */
const GENERATION_LUA = `
local g = redis.call('GET', KEYS[1])
if not g then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return g
`;

type ScriptClient = {
  tpGeneration(marker: string, candidate: string): Promise<unknown>;
};

/** Registers GENERATION_LUA on the client as the command `tpGeneration`. */
export function defineGenerationScript(client: Redis | Cluster): void {
  client.defineCommand('tpGeneration', { numberOfKeys: 1, lua: GENERATION_LUA });
}

/** Runs GENERATION_LUA: the current marker, `candidate` having been written when there was none. */
export function currentGeneration(client: Redis | Cluster, generationKey: string, candidate: string): Promise<unknown> {
  return (client as unknown as ScriptClient).tpGeneration(generationKey, candidate);
}

/**
 * The consume script (CONSUME_LUA), sent as a command of our own so that its ioredis timer can be
 * set first, with a longer backstop (ioredis keeps the first one set): it then only ever reaps a
 * command whose bounded wait (../wait.ts) already ended. Plain EVAL, one round trip whatever Redis
 * has cached: an EVALSHA that meets NOSCRIPT (after a restart or SCRIPT FLUSH) would need a second
 * one, and a wait bounded by Envoy's deadline has no room for it.
 */
export function sendConsume(
  client: Redis | Cluster,
  commandTimeoutMs: number,
  generationKey: string,
  redisKey: string,
  known: string,
  px: number,
  candidate: string,
): Promise<unknown> {
  const command = new (ioredis().Command)('eval', [CONSUME_LUA, 2, generationKey, redisKey, known, px, candidate], { replyEncoding: 'utf8' });
  command.setTimeout(commandTimeoutMs + COMMAND_BACKSTOP_MS);
  return client.sendCommand(command) as Promise<unknown>;
}
