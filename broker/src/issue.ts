/**
 * Turning a validated request into a passport or a refusal. Both paths end in the one call to
 * `issuePassport`; they differ only in who the subject is and which key-binding class is claimed:
 *   software: `sub` is `software.subject`, or the caller's `subject` when `software.allowed_subjects`
 *             matches it; class `software`.
 *   spiffe:   `sub` is the verified SPIFFE ID; class `attested_workload`; `cnf` is the holder key the
 *             SVID key signed for in the proof of possession.
 */
import { issuePassport, newJti, type SigningKey, type KeyBinding } from '../../core/src/index.js';
import type { BrokerConfig } from './config.js';
import { refuse, type Refusal } from './errors.js';
import type { PassportRequest } from './request.js';
import type { SvidVerifier } from './spiffe.js';

export interface Issued {
  readonly ok: true;
  readonly passport: string;
  readonly jti: string;
  readonly subject: string;
  readonly keyBinding: KeyBinding;
  readonly expiresAt: number;
}

export interface IssueContext {
  readonly config: BrokerConfig;
  readonly key: SigningKey;
  readonly svid?: SvidVerifier;
  readonly nowMs: () => number;
}

export async function issueFor(req: PassportRequest, ctx: IssueContext): Promise<Issued | Refusal> {
  const { config } = ctx;
  let subject: string;
  let keyBinding: KeyBinding;
  if (req.kind === 'software') {
    if (!config.software.enabled) return refuse('software_path_disabled', 'this broker issues passports only to SPIFFE workloads (send svid_chain and pop)');
    subject = config.software.subject;
    if (req.subject !== undefined && req.subject !== subject) {
      if (!config.software.allowedSubjects.some((p) => subjectMatches(p, req.subject!))) {
        return refuse('subject_not_allowed', 'the requested subject is not in software.allowed_subjects');
      }
      subject = req.subject;
    }
    keyBinding = 'software';
  } else {
    if (!ctx.svid || !config.spiffe) return refuse('spiffe_not_configured', 'this broker has no SPIFFE trust domain configured');
    const svid = await ctx.svid.verifyChain(req.svidChain, ctx.nowMs());
    if (!svid.ok) return svid;
    const pop = ctx.svid.verifyPossession(
      svid,
      req.pop,
      {
        broker: config.issuer,
        audience: req.audience,
        ...(req.route !== undefined ? { route: req.route } : {}),
        ...(req.lifetimeRequested ? { lifetimeS: req.lifetimeS } : {}),
        ...(req.reusable ? { reusable: true } : {}),
        holderJkt: req.holderJkt,
      },
      ctx.nowMs(),
    );
    if (pop !== true) return pop;
    subject = svid.spiffeId;
    keyBinding = 'attested_workload';
  }

  // A reusable passport (docs/transcript-v1.md §15) only for a subject `reusable.subjects` names.
  if (req.reusable && !(config.reusable?.subjects.some((p) => subjectMatches(p, subject)) ?? false)) {
    return refuse('reusable_not_allowed', config.reusable ? 'this subject is not matched by reusable.subjects' : 'this broker issues no reusable passports (no reusable section)');
  }

  const nowMs = ctx.nowMs();
  const jti = newJti();
  const passport = issuePassport({
    key: ctx.key,
    issuer: config.issuer,
    subject,
    audience: req.audience,
    trustDomain: config.trustDomain,
    holder: req.holder,
    keyBinding,
    lifetimeS: req.lifetimeS,
    nowMs,
    jti,
    ...(req.reusable ? { reusable: true } : {}),
  });
  // issuePassport computes exp the same way: whole seconds of the same clock reading plus the lifetime.
  return { ok: true, passport, jti, subject, keyBinding, expiresAt: Math.floor(nowMs / 1000) + req.lifetimeS };
}

/**
 * `software.allowed_subjects` patterns, with the bundle's subject-pattern rules: exact, or `*` for
 * exactly one non-empty path segment, or a trailing `/**` for one or more further segments.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (!pattern.includes('*')) return pattern === subject;
  const any = pattern.endsWith('/**');
  const head = any ? pattern.slice(0, -3) : pattern;
  const re = head
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${re}${any ? '/[^/].*' : ''}$`).test(subject);
}
