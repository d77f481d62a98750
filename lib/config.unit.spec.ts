import { ConfigError, loadConfig } from './config';

describe('configuration: who signs tokens (issue 13)', () => {
  test('development: the platform’s own development key pair under the stack folder, issuer cloudphone-dev', () => {
    const cfg = loadConfig({ STACK_DIR: '/tmp/some-stack' });
    expect(cfg.auth).toEqual({
      issuer: 'cloudphone-dev',
      audience: 'cloudphone',
      maxLifetimeSeconds: 86_400,
      devKeyFile: '/tmp/some-stack/auth/dev-signing-key.jwk.json',
    });
  });

  test('production without an identity provider refuses to start, naming the variable', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_ISSUER: required with NODE_ENV=production/);
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_ISSUER: 'https://id.example.com' })).toThrow(/AUTH_JWKS_URL: required/);
    expect(() =>
      loadConfig({ NODE_ENV: 'production', AUTH_ISSUER: 'cloudphone-dev', AUTH_JWKS_URL: 'https://id.example.com/jwks' }),
    ).toThrow(ConfigError);
  });

  test('production with an identity provider: its JWKS, and no development key at all', () => {
    const cfg = loadConfig({ NODE_ENV: 'production', AUTH_ISSUER: 'https://id.example.com', AUTH_JWKS_URL: 'https://id.example.com/jwks' });
    expect(cfg.auth).toEqual({
      issuer: 'https://id.example.com',
      audience: 'cloudphone',
      maxLifetimeSeconds: 86_400,
      jwksUrl: 'https://id.example.com/jwks',
    });
  });
});
