import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { devKey, type Actor } from '../lib/auth';
import type { AuthConfig } from '../lib/config';

/**
 * Tokens an attacker (or a careless client) would send, for the tests of `authenticate`: signed with the real
 * development key but with claims of the test's choosing, or forged with another key under the real key id.
 */
export function tokenWith(auth: AuthConfig, claims: Record<string, unknown>, options: jwt.SignOptions = {}): string {
  const key = devKey(auth.devKeyFile!);
  return jwt.sign(claims, key.privateKey, { algorithm: 'ES256', keyid: key.kid, ...options });
}

/** A token with the platform's issuer, audience and key id, signed by a key that is not the platform's. */
export function forgedToken(auth: AuthConfig, actor: Actor): string {
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return jwt.sign({ ...actor }, other, {
    algorithm: 'ES256',
    keyid: devKey(auth.devKeyFile!).kid,
    issuer: auth.issuer,
    audience: auth.audience,
    expiresIn: '1h',
  });
}
