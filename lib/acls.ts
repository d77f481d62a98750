import { randomUUID } from 'node:crypto';
import {
  AclOperationTypes as Op,
  AclPermissionTypes,
  AclResourceTypes as Res,
  ResourcePatternTypes as Pattern,
  type Admin,
  type AclEntry,
} from 'kafkajs';
import { usernameOf, type Principal } from './kafka';
import { AGGREGATE_NAMES, type Topics } from './topics';
import { waitFor } from './wait';

/**
 * Least privilege on Kafka, per namespace: what each component's principal may do with the namespace's topics,
 * consumer groups and transactional ids. Bootstrap grants these (as the admin principal); nothing else can
 * create or delete topics, and an unauthenticated client is refused by the broker before any of it.
 *
 * | principal   | reads                               | writes                                   | groups / transactional ids             |
 * | api         | replies                             | command topics                           | `<replies>.` (the bus)                 |
 * | commands    | command, event, snapshot topics     | event and snapshot topics, replies, command dead letters | `<ns>.<aggregate>.processor` (both) |
 * | policies    | event topics, replies               | command topics                           | `<ns>.policy.`, reservation release, bus |
 * | projections | event topics                        | dead letters                             | `<ns>.projection.`, `<ns>.rebuild.`    |
 * | tools       | every topic of the namespace        | nothing                                  | `<ns>.tools.`; describes all groups    |
 */
/** A throw-away consumer group of a tool (inspect, the start demo): under `<ns>.tools.`, where tools may read. */
export const toolsGroup = (namespace: string, tool: string) => `${namespace}.tools.${tool}-${randomUUID()}`;

export interface Grant {
  principal: Exclude<Principal, 'admin'>;
  resource: 'topic' | 'group' | 'transactionalId';
  name: string;
  pattern: 'literal' | 'prefixed';
  operation: 'read' | 'write' | 'describe' | 'delete' | 'describeConfigs';
}

export function namespaceGrants(topics: Topics): Grant[] {
  const ns = topics.namespace;
  const commands = AGGREGATE_NAMES.map((n) => topics[n].commands);
  const events = [...AGGREGATE_NAMES.map((n) => topics[n].events), topics.smoke.events];
  const snapshots = AGGREGATE_NAMES.map((n) => topics[n].snapshots);
  const grants: Grant[] = [];
  const topic = (principal: Grant['principal'], names: string[], operation: Grant['operation']) =>
    names.forEach((name) => grants.push({ principal, resource: 'topic', name, pattern: 'literal', operation }));
  const prefixed = (principal: Grant['principal'], resource: Grant['resource'], name: string, operation: Grant['operation']) =>
    grants.push({ principal, resource, name, pattern: 'prefixed', operation });
  const bus = (principal: Grant['principal']) => {
    topic(principal, commands, 'write');
    topic(principal, [topics.replies], 'read');
    prefixed(principal, 'group', `${topics.replies}.`, 'read');
  };

  bus('api');

  topic('commands', commands, 'read');
  topic('commands', events, 'read');
  topic('commands', events, 'write');
  topic('commands', snapshots, 'read');
  topic('commands', snapshots, 'write');
  topic('commands', [topics.replies, topics.commandDeadLetters], 'write');
  for (const name of AGGREGATE_NAMES) {
    prefixed('commands', 'group', `${ns}.${name}.processor`, 'read');
    prefixed('commands', 'transactionalId', `${ns}.${name}.processor`, 'write');
  }

  bus('policies');
  topic('policies', events, 'read');
  prefixed('policies', 'group', `${ns}.policy.`, 'read');
  prefixed('policies', 'group', `${ns}.reservation-release.policy`, 'read');

  topic('projections', events, 'read');
  topic('projections', [topics.deadLetters], 'write');
  prefixed('projections', 'group', `${ns}.projection.`, 'read');
  // A rebuild (npm run rebuild) is a projection worker too: it may dead-letter, and drops its groups when done.
  prefixed('projections', 'group', `${ns}.rebuild.`, 'read');
  prefixed('projections', 'group', `${ns}.rebuild.`, 'delete');

  prefixed('tools', 'topic', `${ns}.`, 'read');
  prefixed('tools', 'topic', `${ns}.`, 'describeConfigs');
  prefixed('tools', 'group', `${ns}.`, 'describe');
  prefixed('tools', 'group', `${ns}.tools.`, 'read');
  prefixed('tools', 'group', `${ns}.tools.`, 'delete');
  return grants;
}

const OPERATION = {
  read: Op.READ,
  write: Op.WRITE,
  describe: Op.DESCRIBE,
  delete: Op.DELETE,
  describeConfigs: Op.DESCRIBE_CONFIGS,
} as const;
const RESOURCE = { topic: Res.TOPIC, group: Res.GROUP, transactionalId: Res.TRANSACTIONAL_ID } as const;

function aclEntries(grants: readonly Grant[]): AclEntry[] {
  return grants.map((g) => ({
    principal: `User:${usernameOf(g.principal)}`,
    host: '*',
    resourceType: RESOURCE[g.resource],
    resourceName: g.name,
    resourcePatternType: g.pattern === 'literal' ? Pattern.LITERAL : Pattern.PREFIXED,
    operation: OPERATION[g.operation],
    permissionType: AclPermissionTypes.ALLOW,
  }));
}

/** A broker without an authorizer (KAFKA_AUTH=none) answers ACL requests with SECURITY_DISABLED: nothing to grant. */
const securityDisabled = (err: unknown) => (err as { type?: string }).type === 'SECURITY_DISABLED';

/**
 * Grants the namespace's ACLs (idempotent: Kafka keeps one copy of an ACL created twice), and returns once the
 * broker's authorizer holds every one of them: the controller commits them first and the broker applies them a
 * moment later, and a component started in between was refused its topics (seen in the e2e suite).
 */
export async function ensureAcls(admin: Admin, topics: Topics): Promise<number> {
  const acl = aclEntries(namespaceGrants(topics));
  try {
    await admin.createAcls({ acl });
  } catch (err) {
    if (securityDisabled(err)) return 0;
    throw err;
  }
  const key = (
    r: { resourceType: number; resourceName: string; resourcePatternType: number },
    a: { principal: string; operation: number },
  ) => `${r.resourceType}|${r.resourceName}|${r.resourcePatternType}|${a.principal}|${a.operation}`;
  const wanted = acl.map((e) => key(e, e));
  await waitFor(
    async () => {
      const { resources } = await admin.describeAcls({
        resourceType: Res.ANY,
        resourcePatternType: Pattern.ANY,
        operation: Op.ANY,
        permissionType: AclPermissionTypes.ANY,
      });
      const held = new Set(resources.flatMap((r) => r.acls.map((a) => key(r, a))));
      return wanted.every((k) => held.has(k)) ? true : undefined;
    },
    { what: `the ACLs of ${topics.namespace} to reach the broker`, timeoutMs: 30_000, intervalMs: 50 },
  );
  return acl.length;
}

/** Removes the namespace's ACLs (tests and benchmarks clean up after themselves). */
export async function dropAcls(admin: Admin, topics: Topics): Promise<void> {
  await admin.deleteAcls({ filters: aclEntries(namespaceGrants(topics)) }).catch((err: unknown) => {
    if (!securityDisabled(err)) throw err;
  });
}
