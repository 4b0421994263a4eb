import { hasSecretParam, isSecretName, redactText } from '../../model/redact';

describe('redaction of secret-shaped text', () => {
  it('hides URL userinfo of every scheme, keeping scheme, host and path', () => {
    expect(redactText('redis://:pw-1234@cache:6379/0 and postgres://u:p%40ss@db/prod')).toBe(
      'redis://***@cache:6379/0 and postgres://***@db/prod',
    );
    expect(redactText('amqp://guest:guest@mq/vhost https://user:pw@example.com/x https://ghp_abc@github.com/o/r')).toBe(
      'amqp://***@mq/vhost https://***@example.com/x https://***@github.com/o/r',
    );
    expect(redactText('https://example.com/a@b is not userinfo')).toBe('https://example.com/a@b is not userinfo');
  });

  it('hides token-like query parameters and leaves the others', () => {
    expect(
      redactText('GET https://h/x?api_key=AK1&page=2&access_token=T2&sig=S3&key=K4&X-Amz-Signature=S5&password=P6'),
    ).toBe('GET https://h/x?api_key=***&page=2&access_token=***&sig=***&key=***&X-Amz-Signature=***&password=***');
    expect(hasSecretParam('https://h/metrics?apikey=abc')).toBe(true);
    expect(hasSecretParam('https://h/metrics?page=1&keyword=x')).toBe(false);
  });

  it('hides the values of secret-named variables as NAME=value, NAME: value and JSON', () => {
    const text = [
      'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG',
      'DB_PASS: hunter22',
      '{"api_token":"t-999","count":3}',
      'PRIVATE_KEY=abc123 GITHUB_TOKEN=ghp_x PGPASSWORD=s3',
      'Authorization: Bearer eyJhbGciOi.payload.sig',
      'PASSWORD_FILE=/run/secrets/db tokenEnv: HOOK_TOKEN PGPASSWORD=$PW',
      'login failed: PRIVATE_KEY=k-1 x=GITHUB_TOKEN=t-2',
    ].join('\n');
    expect(redactText(text).split('\n')).toEqual([
      'AWS_SECRET_ACCESS_KEY=***',
      'DB_PASS: ***',
      '{"api_token":"***","count":3}',
      'PRIVATE_KEY=*** GITHUB_TOKEN=*** PGPASSWORD=***',
      'Authorization: ***',
      // A file path and a variable's name or reference are not secrets.
      'PASSWORD_FILE=/run/secrets/db tokenEnv: HOOK_TOKEN PGPASSWORD=$PW',
      // A name that is not a secret's does not swallow the assignment after it.
      'login failed: PRIVATE_KEY=*** x=GITHUB_TOKEN=***',
    ]);
  });

  it('hides the given values, longest first, and private key blocks', () => {
    expect(redactText('url postgres://a:b@h/x pw b-long-pw', ['b-long-pw', 'postgres://a:b@h/x'])).toBe(
      'url *** pw ***',
    );
    expect(redactText('-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\nok')).toBe(
      '-----BEGIN OPENSSH PRIVATE KEY----- ***\nok',
    );
  });

  it('knows secret names and not their neighbours', () => {
    for (const n of ['AWS_SECRET_ACCESS_KEY', 'PRIVATE_KEY', 'DB_PASS', 'STRIPE_API_KEY', 'password', 'Api_Token'])
      expect([n, isSecretName(n)]).toEqual([n, true]);
    for (const n of ['KEYS', 'tokenEnv', 'DB_PASSWORD_FILE', 'PASSAGE', 'BYPASS_CACHE', 'keywords'])
      expect([n, isSecretName(n)]).toEqual([n, false]);
  });
});
