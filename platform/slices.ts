import type Router from '@koa/router';
import type { Config } from '../lib/config';
import type { AnyCommandTable } from '../lib/command-table';
import type { Decider } from '../lib/decider';
import type { PushView } from '../lib/change-feed';
import type { Operation } from '../lib/openapi';
import type { Reactions } from '../lib/policy';
import type { Projection } from '../lib/projection';
import type { QueryDeps } from '../projections/query-deps';
import type { Expanders } from '../lib/saga';
import type { AggregateName } from '../lib/topics';
import { billingPushes, billingQueryOperations, billingQueryRoutes } from '../projections/billing/routes';
import { billingProjection } from '../projections/billing/projection';
import { devicePushes, deviceQueryOperations, deviceQueryRoutes } from '../projections/device/routes';
import { deviceProjection } from '../projections/device/projection';
import { notificationPushes, notificationQueryOperations, notificationQueryRoutes } from '../projections/notification/routes';
import { notificationProjection } from '../projections/notification/projection';
import { deviceAgent, expandInstall } from '../policies/device-agent/agent';
import { NOTIFICATIONS, notificationReactions } from '../policies/notifications/policy';
import { purchasePlanSaga } from '../policies/purchase-plan/saga';
import { expandUserDevices, userLifecyclePolicy } from '../policies/user-lifecycle/policy';
import { appInstallDecider, appInstallOwner } from '../services/app-install/decider';
import { appInstallCommands } from '../services/app-install/routes';
import { deviceDecider, deviceOwner } from '../services/device/decider';
import { deviceCommands } from '../services/device/routes';
import { notificationDecider, notificationOwner } from '../services/notification/decider';
import { notificationCommands } from '../services/notification/routes';
import { orderDecider, orderOwner } from '../services/order/decider';
import { orderCommands } from '../services/order/routes';
import { reservationDecider } from '../services/reservation/decider';
import { reservationRelease } from '../services/reservation/release-policy';
import { userDecider, userOwner } from '../services/user/decider';
import { userCommands } from '../services/user/routes';

/**
 * The platform's one list of slices: what each contributes, iterated by the composition roots of the three process
 * roles beside it — the command side (commands.ts), the read side (read-side.ts) and the reactions
 * (reactions.ts). Nothing else lists aggregates, read models or policies. Migrations need no entry: every
 * slice's `migrations/` folder is found by lib/db.ts.
 */

/** An aggregate's single writer and whose each aggregate is; a command table when it takes commands over HTTP. */
export interface AggregateSlice {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly decider: Decider<any, any, any>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly owner?: (state: any, id: string) => string | null;
  readonly commands?: AnyCommandTable;
}

/** Every aggregate, keyed by name: a new aggregate in lib/topics.ts is a compile error here until it is listed. */
export const AGGREGATES: { readonly [A in AggregateName]: AggregateSlice } = {
  user: { decider: userDecider, owner: userOwner, commands: userCommands },
  device: { decider: deviceDecider, owner: deviceOwner, commands: deviceCommands },
  order: { decider: orderDecider, owner: orderOwner, commands: orderCommands },
  appInstall: { decider: appInstallDecider, owner: appInstallOwner, commands: appInstallCommands },
  notification: { decider: notificationDecider, owner: notificationOwner, commands: notificationCommands },
  // Reservations belong to nobody: only internal callers (the user API, the release policy) command them.
  reservation: { decider: reservationDecider },
};

/**
 * A read model: its projection, the query API over its tables, and how the changes of its pushed tables (TableSpec
 * `push`) are shown on GET /stream, by kind.
 */
export interface ReadModelSlice {
  readonly projection: Projection;
  readonly queries: (deps: QueryDeps) => Router;
  readonly operations: readonly Operation[];
  readonly pushes: Readonly<Record<string, PushView>>;
}

export const READ_MODELS: readonly ReadModelSlice[] = [
  { projection: deviceProjection, queries: deviceQueryRoutes, operations: deviceQueryOperations, pushes: devicePushes },
  { projection: billingProjection, queries: billingQueryRoutes, operations: billingQueryOperations, pushes: billingPushes },
  {
    projection: notificationProjection,
    queries: notificationQueryRoutes,
    operations: notificationQueryOperations,
    pushes: notificationPushes,
  },
];

/** The stateful sagas and policies: projections whose rows include the commands to send (lib/saga.ts). */
export const sagas = (cfg: Config): Projection[] => [
  purchasePlanSaga({ paymentTimeoutMs: cfg.sagas.paymentTimeoutMs, deviceQuota: cfg.sagas.deviceQuota }),
  userLifecyclePolicy,
  deviceAgent({ installDelayMs: cfg.sagas.installDelayMs }),
];

/** How the sagas' steps that name many commands are expanded when they are due. */
export const EXPANDERS: Expanders = { 'user-devices': expandUserDevices, install: expandInstall };

/**
 * The stateless policies, each with the process role it runs in and its consumer group (kept as they were named
 * when first deployed: a renamed group would read every topic again).
 */
export interface ReactionSlice {
  readonly reactions: Reactions;
  readonly runsIn: 'commands' | 'policies';
  readonly groupId: (namespace: string) => string;
}

export const REACTIONS: readonly ReactionSlice[] = [
  { reactions: reservationRelease, runsIn: 'commands', groupId: (ns) => `${ns}.reservation-release.policy` },
  { reactions: notificationReactions, runsIn: 'policies', groupId: (ns) => `${ns}.policy.${NOTIFICATIONS}` },
];
