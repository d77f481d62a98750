import { Command } from 'commander';
import { opsToken, signToken } from '../lib/auth';
import { loadConfig } from '../lib/config';

/**
 * Prints a bearer token for the command and query APIs, signed ES256 with the development key the platform makes
 * under .stack/auth (for the demo and for curl). In production tokens come from the identity provider.
 */
new Command('token')
  .description('print a development bearer token (ES256, the development key; at most AUTH_MAX_TOKEN_LIFETIME_S)')
  .option('--user <id>', 'the user id the token speaks for (required unless --ops)')
  .option('--ops', 'print the operator token of /metrics and /projections/status instead (OPS_TOKEN_FILE)')
  .option('--tenant <id>', 'tenant', 'default')
  .option('--role <role>', 'user | tenant_admin', 'user')
  .option('--expires <span>', 'lifetime, e.g. 12h, 7d', '12h')
  .action((o: { user?: string; ops?: boolean; tenant: string; role: string; expires: string }) => {
    if (o.ops) return console.log(opsToken(loadConfig().auth));
    if (!o.user) throw new Error('--user is required (or --ops)');
    if (o.role !== 'user' && o.role !== 'tenant_admin') throw new Error('--role is user or tenant_admin');
    console.log(signToken(loadConfig().auth, { userId: o.user, tenantId: o.tenant, role: o.role }, o.expires as '12h'));
  })
  .parse();
