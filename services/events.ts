import { handlerProjection, type HandlerMaps, type TableSpec } from '../lib/projection';
import { handlerReactions, type ReactionMap } from '../lib/policy';
import type { AggregateName } from '../lib/topics';
import type { AppInstallEvent } from './app-install/events';
import type { DeviceEvent } from './device/events';
import type { NotificationEvent } from './notification/events';
import type { OrderEvent } from './order/events';
import type { ReservationEvent } from './reservation/events';
import type { UserEvent } from './user/events';

/**
 * The platform's event contracts, one per aggregate (each generated from schemas/<aggregate>/*.avsc into
 * services/<aggregate>/events.ts). Projections and policies are written against this map: each declares, per
 * aggregate it reads, a handler for every event type of that aggregate, so a new event type is a compile error in
 * every projection and policy that reads its aggregate until each has decided what to do with it.
 */
export interface PlatformEvents {
  user: UserEvent;
  device: DeviceEvent;
  order: OrderEvent;
  appInstall: AppInstallEvent;
  notification: NotificationEvent;
  reservation: ReservationEvent;
}

/** A projection (or stateful saga) from its tables and its handler maps: the topics and `needs` follow from them. */
export const defineProjection = (spec: {
  readonly name: string;
  readonly tables: Readonly<Record<string, TableSpec>>;
  readonly on: HandlerMaps<PlatformEvents>;
}) => handlerProjection<PlatformEvents>(spec);

/** A stateless policy's reactions from its reaction maps: the topics follow from them. */
export const defineReactions = (name: string, on: { readonly [A in AggregateName]?: ReactionMap<PlatformEvents[A]> }) =>
  handlerReactions<PlatformEvents>(name, on);
