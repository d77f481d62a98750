import { ConfigError, loadConfig } from './config';

describe('configuration: who signs tokens (issue 13)', () => {
  test('development: the platform’s own development key pair under the stack folder, issuer cloudphone-dev', () => {
    const cfg = loadConfig({ STACK_DIR: '/tmp/some-stack' });
    expect(cfg.auth).toEqual({
      issuer: 'cloudphone-dev',
      audience: 'cloudphone',
      maxLifetimeSeconds: 86_400,
      devKeyFile: '/tmp/some-stack/auth/dev-signing-key.jwk.json',
      opsTokenFile: '/tmp/some-stack/auth/ops-token',
      tenants: { '*': 'open' },
    });
  });

  test('production without an identity provider refuses to start, naming the variable', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_ISSUER: required with NODE_ENV=production/);
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_ISSUER: 'https://id.example.com' })).toThrow(/AUTH_JWKS_URL: required/);
    expect(() =>
      loadConfig({ NODE_ENV: 'production', AUTH_ISSUER: 'cloudphone-dev', AUTH_JWKS_URL: 'https://id.example.com/jwks' }),
    ).toThrow(ConfigError);
  });

  const idp = {
    AUTH_ISSUER: 'https://id.example.com',
    AUTH_JWKS_URL: 'https://id.example.com/jwks',
    OPS_TOKEN_FILE: '/run/secrets/ops',
    TENANTS: 'acme:open,corp',
  };

  test('tenants: registered by TENANTS with their sign-up; production names them, without "*"', () => {
    expect(loadConfig({ TENANTS: 'acme:open,corp,ops:closed' }).auth.tenants).toEqual({ acme: 'open', corp: 'closed', ops: 'closed' });
    expect(() => loadConfig({ TENANTS: 'Acme' })).toThrow(/TENANTS/);
    expect(() => loadConfig({ NODE_ENV: 'production', ...idp, TENANTS: undefined })).toThrow(/TENANTS: required/);
    expect(() => loadConfig({ NODE_ENV: 'production', ...idp, TENANTS: 'acme,*:open' })).toThrow(/TENANTS: "\*"/);
  });
  const dbs = { DATABASE_URL: 'postgres://app@db.internal/cloudphone', DATABASE_QUERY_URL: 'postgres://query@db.internal/cloudphone' };

  test('production without an operator token file refuses to start, naming the variable', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', ...idp, OPS_TOKEN_FILE: undefined })).toThrow(/OPS_TOKEN_FILE: required/);
  });

  test('production without Kafka credentials, or with Kafka authentication off, refuses to start, naming the variable', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', ...idp, ...dbs })).toThrow(
      /KAFKA_CREDENTIALS_FILE: required with NODE_ENV=production/,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', ...idp, ...dbs, KAFKA_AUTH: 'none' })).toThrow(/KAFKA_AUTH: must be scram/);
    expect(loadConfig({ KAFKA_AUTH: 'none' }).kafka.auth).toBe('none');
  });

  test('production without the app’s and the query API’s database roles refuses to start', () => {
    const secrets = { KAFKA_CREDENTIALS_FILE: '/k', REGISTRY_CREDENTIALS_FILE: '/r' };
    expect(() => loadConfig({ NODE_ENV: 'production', ...idp, ...secrets })).toThrow(/DATABASE_URL: required/);
    expect(() => loadConfig({ NODE_ENV: 'production', ...idp, ...secrets, DATABASE_URL: 'postgres://a@h/d' })).toThrow(
      /DATABASE_QUERY_URL: required/,
    );
  });

  test('production without a PII master key file refuses to start; development makes one into the stack folder', () => {
    const all = { ...idp, ...dbs, KAFKA_CREDENTIALS_FILE: '/k', REGISTRY_CREDENTIALS_FILE: '/r' };
    expect(() => loadConfig({ NODE_ENV: 'production', ...all })).toThrow(/PII_MASTER_KEY_FILE: required with NODE_ENV=production/);
    expect(loadConfig({ NODE_ENV: 'production', ...all, PII_MASTER_KEY_FILE: '/run/secrets/pii' }).pii).toEqual({
      masterKeyFile: '/run/secrets/pii',
      make: false,
    });
    expect(loadConfig({ STACK_DIR: '/tmp/no-such-stack' }).pii).toEqual({ masterKeyFile: '/tmp/no-such-stack/pii/master.key', make: true });
  });

  test('development: the embedded server’s app and query roles, their passwords from the stack’s file when it exists', () => {
    const cfg = loadConfig({ STACK_DIR: '/tmp/no-such-stack' });
    expect(cfg.database).toMatchObject({
      url: 'postgres://cloudphone_app@127.0.0.1:54329/cloudphone',
      queryUrl: 'postgres://cloudphone_query@127.0.0.1:54329/cloudphone',
      embedded: true,
    });
  });

  test('production without registry credentials, or with registry authentication off, refuses to start', () => {
    const kafka = { ...dbs, KAFKA_CREDENTIALS_FILE: '/run/secrets/kafka.json' };
    expect(() => loadConfig({ NODE_ENV: 'production', ...idp, ...kafka })).toThrow(
      /REGISTRY_CREDENTIALS_FILE: required with NODE_ENV=production/,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', ...idp, ...kafka, REGISTRY_AUTH: 'none' })).toThrow(/REGISTRY_AUTH: must be basic/);
  });

  test('development: Kafka SCRAM and registry Basic credentials from the stack’s files', () => {
    const cfg = loadConfig({ STACK_DIR: '/tmp/some-stack' });
    expect(cfg.kafka).toMatchObject({ auth: 'scram', credentialsFile: '/tmp/some-stack/kafka/credentials.json' });
    expect(cfg.registry).toMatchObject({ auth: 'basic', credentialsFile: '/tmp/some-stack/registry/credentials.json' });
  });

  test('production with an identity provider: its JWKS, and no development key at all', () => {
    const cfg = loadConfig({
      NODE_ENV: 'production',
      ...idp,
      DATABASE_URL: 'postgres://app@db.internal/cloudphone',
      DATABASE_QUERY_URL: 'postgres://query@db.internal/cloudphone',
      KAFKA_CREDENTIALS_FILE: '/run/secrets/kafka.json',
      REGISTRY_CREDENTIALS_FILE: '/run/secrets/registry.json',
      PII_MASTER_KEY_FILE: '/run/secrets/pii.key',
    });
    expect(cfg.auth).toEqual({
      issuer: 'https://id.example.com',
      audience: 'cloudphone',
      maxLifetimeSeconds: 86_400,
      jwksUrl: 'https://id.example.com/jwks',
      opsTokenFile: '/run/secrets/ops',
      tenants: { acme: 'open', corp: 'closed' },
    });
  });
});
